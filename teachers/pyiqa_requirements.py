"""Which files and packages each pyiqa no-reference metric needs, and whether they are here.

Building a pyiqa metric to find out takes seconds to tens of seconds offline
(network retries, random init of large backbones), so this module derives the
requirements statically and only looks at the disk:

* the metric's arch class and options come from pyiqa's own registry
  (``pyiqa/default_model_configs.py``, read without importing pyiqa or torch);
* pyiqa weight file names come from the ``default_model_urls`` dicts in
  pyiqa's arch modules, parsed (never imported) with ``ast``, so they follow
  the installed pyiqa release;
* which URL key, backbone and package each arch uses is written down below,
  per arch class, from reading pyiqa 0.1.16. ``teachers.download_guard.try_build``
  checks that against what a real construction asks for (the tests do, for a
  few metrics).

Nothing here imports torch or pyiqa, so ``w2s list teachers`` stays fast.

Where pyiqa and its backbones look (the same places the loaders use):

* pyiqa weights: ``$TORCH_HOME/hub/pyiqa/<file>`` (``~/.cache/torch/hub/pyiqa``);
* torchvision and URL-based timm backbones: ``$TORCH_HOME/hub/checkpoints/``;
* timm backbones with a Hugging Face id, and transformers models: the
  Hugging Face hub cache (``$HF_HUB_CACHE`` or ``$HF_HOME/hub``);
* CLIP: ``$TORCH_HOME/hub/clip/`` for pyiqa's own CLIP loader, ``~/.cache/clip/``
  for the ``clip`` package's ``clip.load`` (CLIPScore, LAION-aes, A-FINE).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from urllib.parse import urlparse

# ---------------------------------------------------------------- where to look


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``, without importing torch when it is not loaded yet."""
    if "torch.hub" in sys.modules:
        return Path(sys.modules["torch.hub"].get_dir())
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(os.path.expanduser(home)) / "hub"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, from the environment as it is now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expanduser(os.environ["HF_HUB_CACHE"]))
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(os.path.expanduser(home)) / "hub"


# folder kinds: name -> (how to say it, prefix in a table cell, where it is now)
FOLDERS: dict[str, tuple[str, str, Callable[[], Path]]] = {
    "pyiqa": ("$TORCH_HOME/hub/pyiqa", "pyiqa/", lambda: torch_hub_dir() / "pyiqa"),
    "checkpoints": ("$TORCH_HOME/hub/checkpoints", "checkpoints/", lambda: torch_hub_dir() / "checkpoints"),
    "clip": ("$TORCH_HOME/hub/clip", "clip/", lambda: torch_hub_dir() / "clip"),
    "openai-clip": ("~/.cache/clip", "~/.cache/clip/", lambda: Path(os.path.expanduser("~/.cache/clip"))),
    "torch-hub": ("$TORCH_HOME/hub", "hub/", torch_hub_dir),
    "hf": ("the Hugging Face hub cache", "HF:", hf_hub_cache),
}

# optional python packages pyiqa imports for some metrics without declaring them
PACKAGE_HINTS = {
    "pkg_resources": "pip install 'setuptools<81' (the clip package imports pkg_resources)",
    "clip": "pip install openai-clip",
    "icecream": "pip install icecream (pyiqa's Q-Align code imports it)",
    "facexlib": "pip install facexlib",
}


@dataclass(frozen=True)
class Need:
    """One thing a metric needs: a file in a folder, a Hugging Face repo, or a package."""

    kind: str  # "file" | "hf-file" | "hf-repo" | "hub-repo" | "package"
    name: str  # file name, repo id, folder name or module name
    folder: str = ""  # a FOLDERS key, for the file kinds
    hf_file: str = ""  # for "hf-file": the file inside the repo
    url: str = ""  # where pyiqa would download it from, when known
    dirpath: str = ""  # the folder, when it is none of FOLDERS

    def path(self) -> Path | None:
        if self.kind == "package":
            return None
        if not self.folder:
            return Path(self.dirpath or ".") / self.name
        base = FOLDERS[self.folder][2]()
        if self.kind in ("file", "hub-repo"):
            return base / self.name
        return base / ("models--" + self.name.replace("/", "--"))

    def present(self) -> bool:
        if self.kind == "package":
            return importlib.util.find_spec(self.name) is not None
        path = self.path()
        if self.kind == "file":
            return path.is_file()
        if self.kind == "hub-repo":
            return path.is_dir()
        # Hugging Face cache: refs/main names the snapshot that offline loading uses
        marker = self.hf_file or "config.json"
        try:
            revision = (path / "refs" / "main").read_text().strip()
        except OSError:
            return False
        return (path / "snapshots" / revision / marker).exists()

    def short(self) -> str:
        """A few words for a table cell: the folder's prefix (see FOLDERS) and the name."""
        if self.kind == "package":
            return f"python package {self.name}"
        if not self.folder:
            return f"{self.dirpath}/{self.name}" if self.dirpath else self.name
        prefix = FOLDERS[self.folder][1]
        if self.kind == "hf-file":
            return f"{prefix}{self.name} ({self.hf_file})"
        return prefix + self.name

    def explain(self) -> str:
        """One line for an error message: what is missing, where it was looked for, how to provide it."""
        if self.kind == "package":
            return f"python package '{self.name}' is not installed: {PACKAGE_HINTS.get(self.name, 'pip install ' + self.name)}"
        path = self.path()
        if self.kind == "file" and not self.folder:  # seen only as a download attempt
            if self.dirpath:
                return f"{self.name} is not in {self.dirpath} (pyiqa tried to download it from {self.url}): copy it there"
            where = ""
            if "openaipublic" in self.url:  # the CLIP loaders download with urllib
                where = (f": put it in {FOLDERS['clip'][2]()} (pyiqa's CLIP loader) or "
                         f"{FOLDERS['openai-clip'][2]()} (the clip package's clip.load, and A-FINE)")
            return f"{self.name} is not here; pyiqa tried to download it from {self.url or 'the network'}{where}"
        if self.kind == "file":
            label = FOLDERS[self.folder][0]
            src = f"; pyiqa would download it from {self.url}" if self.url else ""
            home = (" (this folder does not follow TORCH_HOME)" if self.folder == "openai-clip"
                    else f", or set TORCH_HOME to a folder whose {label.removeprefix('$TORCH_HOME/')}/ has it")
            return f"{self.name} is not in {path.parent} ({label}){src}: copy that file into {path.parent}{home}"
        if self.kind == "hub-repo":
            return (f"torch.hub repo folder {self.name} is not in {path.parent}: run the metric once with network "
                    "(or copy that folder from a machine that did), or set TORCH_HOME")
        what = f"{self.name}/{self.hf_file}" if self.kind == "hf-file" else f"model repo {self.name}"
        return (f"Hugging Face {what} is not in the hub cache {path.parent} (looked for {path.name}/snapshots/<refs/main>/"
                f"{self.hf_file or 'config.json'}): run `hf download {self.name}"
                f"{' ' + self.hf_file if self.hf_file else ''}` where there is network and copy {path.name} into that "
                "cache, or set HF_HOME / HF_HUB_CACHE to a cache that has it")


@dataclass
class Availability:
    """What a metric needs, and which of it is missing here now."""

    metric: str
    needs: list[Need]
    missing: list[Need]
    notes: list[str] = field(default_factory=list)  # other reasons it cannot run here

    @property
    def ready(self) -> bool:
        return not self.missing and not self.notes

    def reason(self) -> str:
        """Short "why not" for a table ('' when ready)."""
        parts = []
        files = [n for n in self.missing if n.kind != "package"]
        pkgs = [n.name for n in self.missing if n.kind == "package"]
        if files:
            parts.append("missing " + ", ".join(n.short() for n in files))
        if pkgs:
            parts.append("python package " + ", ".join(pkgs) + " not installed")
        return "; ".join(parts + self.notes)

    def message(self) -> str:
        """The whole story, for MissingWeightsError."""
        lines = [f"pyiqa:{self.metric} cannot run here:"]
        lines += [f"  - {n.explain()}" for n in self.missing]
        lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------- pyiqa, read without importing it


@lru_cache(maxsize=1)
def pyiqa_dir() -> Path:
    spec = importlib.util.find_spec("pyiqa")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("pyiqa is not installed", name="pyiqa")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def model_configs() -> dict:
    """pyiqa's ``DEFAULT_CONFIGS`` (metric name -> arch options), without importing torch."""
    mod = sys.modules.get("pyiqa.default_model_configs")
    if mod is not None:
        return mod.DEFAULT_CONFIGS
    spec = importlib.util.spec_from_file_location("_w2s_pyiqa_configs", pyiqa_dir() / "default_model_configs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # plain data: it imports only collections
    return mod.DEFAULT_CONFIGS


def nr_metrics() -> list[str]:
    """Every pyiqa no-reference metric name, sorted."""
    return sorted(k for k, v in model_configs().items() if v.get("metric_mode") == "NR")


# where get_url_from_name points (pyiqa's weight release on the Hugging Face hub)
_RELEASE = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"


def _literal_url(node: ast.AST) -> str | None:
    """The download URL a ``default_model_urls`` value stands for."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call):
        fn = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if fn == "get_url_from_name":  # pyiqa: <weight release>/<name>
            args = list(node.args) + [k.value for k in node.keywords if k.arg == "name"]
            name = _literal_url(args[0]) if args else None
            return _RELEASE + name if name else None
        if fn == "_cfg":  # timm-style pretrained cfg: _cfg(url=...)
            for k in node.keywords:
                if k.arg == "url":
                    return _literal_url(k.value)
    return None


@cache
def arch_urls(module: str, variable: str = "default_model_urls") -> dict[str, str]:
    """``{key: URL}`` of a module-level dict in pyiqa/archs (or ``{variable: URL}`` of a plain assignment)."""
    tree = ast.parse((pyiqa_dir() / "archs" / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            if isinstance(node.value, ast.Dict):
                out = {}
                for k, v in zip(node.value.keys, node.value.values):
                    url = _literal_url(v)
                    if isinstance(k, ast.Constant) and url:
                        out[k.value] = url
                return out
            url = _literal_url(node.value)
            return {variable: url} if url else {}
    raise KeyError(f"pyiqa/archs/{module}.py has no {variable}: this pyiqa release differs from the one this table was written for")


def _file(module: str, key: str, folder: str, variable: str = "default_model_urls") -> Need:
    url = arch_urls(module, variable)[key]
    # the URL's basename is the name pyiqa and torch.hub cache the file under
    return Need("file", os.path.basename(urlparse(url).path), folder, url=url)


@cache
def _arch_strings(module: str, variable: str) -> dict[str, str]:
    """A module-level ``{str: str}`` dict, as it is written (qrealign's repo ids)."""
    tree = ast.parse((pyiqa_dir() / "archs" / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(f"pyiqa/archs/{module}.py has no {variable}")


# ---------------------------------------------------------------- per-arch requirements

# torchvision ImageNet weights pyiqa asks for (weights='IMAGENET1K_V1'); checked against torchvision in the tests
TORCHVISION_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "vgg16": "vgg16-397923af.pth",
}
# timm's default pretrained tag for each backbone pyiqa builds with pretrained=True; checked against timm in the tests
TIMM_HF = {
    "resnet50": "timm/resnet50.a1_in1k",
    "vit_base_patch8_224": "timm/vit_base_patch8_224.augreg2_in21k_ft_in1k",
    "inception_resnet_v2": "timm/inception_resnet_v2.tf_in1k",
    "vgg16": "timm/vgg16.tv_in1k",
}


def _pyiqa(module: str, key: str) -> Need:
    return _file(module, key, "pyiqa")


def _tv(arch: str) -> Need:
    return Need("file", TORCHVISION_FILES[arch], "checkpoints", url="https://download.pytorch.org/models/" + TORCHVISION_FILES[arch])


def _timm(name: str) -> Need:
    if name in TIMM_HF:
        return Need("hf-file", TIMM_HF[name], "hf", hf_file="model.safetensors")
    raise KeyError(f"no timm weight entry for backbone {name!r}")


def _clip(backbone: str, loader: str = "pyiqa") -> list[Need]:
    """pyiqa's CLIP loader keeps files in $TORCH_HOME/hub/clip; the clip package's (and A-FINE's) in ~/.cache/clip."""
    return [_file("clip_model", backbone, "clip" if loader == "pyiqa" else "openai-clip", variable="_MODELS")]


_CLIP_PKGS = [Need("package", "clip"), Need("package", "pkg_resources")]


def _niqe(o):
    return [_pyiqa("niqe_arch", "niqe_matlab" if o.get("version") == "matlab" else "url")]


def _brisque(o):
    return [_pyiqa("brisque_arch", "brisque_matlab" if o.get("version") == "matlab" else "url")]


def _pretrained_key(o, default):
    p = o.get("pretrained", True)
    return default if p is True else p


def _clipiqa(o):
    needs = _CLIP_PKGS + _clip(o.get("backbone", "RN50"))
    mt = o.get("model_type", "clipiqa")
    if o.get("pretrained", True) and "clipiqa+" in mt:
        needs.append(_pyiqa("clipiqa_arch", mt))
    return needs


def _cfanet(o):
    sem = o.get("semantic_model_name", "resnet50")
    if "swin" in sem:  # pyiqa's own swin cfg: a URL, cached by torch.hub
        needs = [_file("topiq_swin", sem, "checkpoints", variable="default_cfgs")]
    elif "clip" in sem:
        needs = _clip(sem.replace("clip_", ""))
    elif o.get("backbone_pretrain", True):
        needs = [_timm(sem)]
    else:
        needs = []
    name = o.get("model_name", "cfanet_nr_koniq_res50")
    if o.get("pretrained", True):
        needs.append(_pyiqa("topiq_arch", name))
    if "gfiqa" in name and o.get("align_crop_face", True):  # facexlib face detector + parser, kept in pyiqa's folder
        facexlib = "https://github.com/xinntao/facexlib/releases/download/"
        needs += [Need("package", "facexlib"),
                  Need("file", "detection_Resnet50_Final.pth", "pyiqa", url=facexlib + "v0.1.0/detection_Resnet50_Final.pth"),
                  Need("file", "parsing_parsenet.pth", "pyiqa", url=facexlib + "v0.2.2/parsing_parsenet.pth")]
    return needs


def _qualiclip(o):
    needs = _CLIP_PKGS + _clip(o.get("backbone", "RN50")) + [_pyiqa("qualiclip_arch", "qualiclip")]
    mt = o.get("model_type", "qualiclip+")
    if o.get("pretrained", True) and "qualiclip+" in mt:
        needs.append(_pyiqa("qualiclip_arch", mt))
    return needs


def _fid(o):
    if o.get("backbone", "inceptionv3") == "dinov2":
        return [Need("hub-repo", "facebookresearch_dinov2_main", "torch-hub"),
                Need("file", "dinov2_vitl14_pretrain.pth", "checkpoints",
                     url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth")]
    return [_file("inception", "FID_WEIGHTS_URL", "pyiqa", variable="FID_WEIGHTS_URL")]


# arch class (metric_opts["type"]) -> options -> needs, in the order pyiqa loads them
RULES: dict[str, Callable[[dict], list[Need]]] = {
    "PIQE": lambda o: [],
    "Entropy": lambda o: [],
    "NIQE": _niqe,
    "ILNIQE": lambda o: [_pyiqa("niqe_arch", "ilniqe")],
    "BRISQUE": _brisque,
    "NRQM": lambda o: [_pyiqa("nrqm_arch", "url")],
    "PI": lambda o: [_pyiqa("nrqm_arch", "url"), _pyiqa("niqe_arch", "url")],
    "CNNIQA": lambda o: [_pyiqa("cnniqa_arch", _pretrained_key(o, "koniq10k"))],
    "MUSIQ": lambda o: [_pyiqa("musiq_arch", _pretrained_key(o, "ava"))],
    "NIMA": lambda o: [_timm(o.get("base_model_name", "vgg16")),
                       _pyiqa("nima_arch", f"{o.get('base_model_name', 'vgg16')}-{o.get('train_dataset', 'ava')}")],
    "PAQ2PIQ": lambda o: [_tv("resnet18"), _pyiqa("paq2piq_arch", "url")],
    "DBCNN": lambda o: [_tv("vgg16"), _pyiqa("dbcnn_arch", "scnn"), _pyiqa("dbcnn_arch", _pretrained_key(o, "koniq"))],
    "MANIQA": lambda o: [_timm("vit_base_patch8_224"), _pyiqa("maniqa_arch", o.get("train_dataset", "pipal"))],
    "CLIPIQA": _clipiqa,
    "FGResQ": lambda o: [Need("hf-repo", "openai/clip-vit-base-patch16", "hf"),
                         _pyiqa("fgresq_arch", "degradation"), _pyiqa("fgresq_arch", "fgresq")],
    "TReS": lambda o: [_tv(o.get("network", "resnet50")), _pyiqa("tres_arch", o.get("train_dataset", "koniq"))],
    "HyperNet": lambda o: [_timm(o.get("base_model_name", "resnet50")), _pyiqa("hypernet_arch", "resnet50-koniq")],
    "MetaIQA": lambda o: [_pyiqa("metaiqa_arch", "meta-infer-ready")],
    "URanker": lambda o: [_pyiqa("uranker_arch", "uranker")],
    "CLIPScore": lambda o: _CLIP_PKGS + _clip(o.get("backbone", "ViT-B/32"), loader="clip"),
    "CFANet": _cfanet,
    "LAIONAes": lambda o: _CLIP_PKGS + _clip("ViT-L/14", loader="clip") + [_pyiqa("laion_aes_arch", "url")],
    "LIQE": lambda o: _CLIP_PKGS + _clip(o.get("backbone", "ViT-B/32")) + [_pyiqa("liqe_arch", _pretrained_key(o, "koniq"))],
    "WaDIQaM": lambda o: [_pyiqa("wadiqam_arch", o.get("model_name", "wadiqam_fr_kadid"))],
    "QAlign": lambda o: [Need("package", "icecream"), Need("hf-repo", "q-future/one-align", "hf")],
    "QReAlign": lambda o: [Need("hf-repo", _arch_strings("qrealign_arch", "MODELS").get(o.get("model", "mini"), o.get("model")), "hf")],
    "Compare2Score": lambda o: [Need("hf-repo", "q-future/Compare2Score", "hf")],
    "UNIQUE": lambda o: [_tv("resnet34"), _pyiqa("unique_arch", "mix")],
    # the ARNIQA encoder goes through torch.hub.load_state_dict_from_url: checkpoints/, not pyiqa/
    "ARNIQA": lambda o: [_tv("resnet50"), _file("arniqa_arch", "ARNIQA", "checkpoints"),
                         _pyiqa("arniqa_arch", o.get("regressor_dataset", "koniq"))],
    "MACLIP": lambda o: _CLIP_PKGS + _clip(o.get("backbone", "RN50")),
    "QualiCLIP": _qualiclip,
    "FID": _fid,
    "InceptionScore": lambda o: [_file("inception", "FID_WEIGHTS_URL", "pyiqa", variable="FID_WEIGHTS_URL")],
    # A-FINE's CLIP loader keeps the default download root of the clip package
    "AFINE": lambda o: _clip(o.get("clip_backbone", "ViT-B/32"), loader="clip") + [_pyiqa("afine_arch", o.get("url_key", "afine"))],
}

# reasons other than files (checked cheaply)
_NEEDS_CUDA = {"MACLIP"}  # pyiqa builds its CLIP on device='cuda' whatever device is asked for


def _has_cuda_device() -> bool:
    if "torch" in sys.modules:
        return bool(sys.modules["torch"].cuda.is_available())
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def requirements(metric: str) -> list[Need]:
    """What ``pyiqa.create_metric(metric)`` loads, in order, without building it."""
    opts = dict(model_configs()[metric]["metric_opts"])
    arch = opts.pop("type")
    if arch not in RULES:
        raise KeyError(f"pyiqa arch {arch!r} (metric {metric!r}) is not in teachers/pyiqa_requirements.RULES")
    seen, out = set(), []
    for need in RULES[arch](opts):
        if need not in seen:
            seen.add(need)
            out.append(need)
    return out


def availability(metric: str) -> Availability:
    """Whether ``pyiqa:metric`` can be built here now; only looks at the disk (well under a millisecond)."""
    try:
        needs = requirements(metric)
    except KeyError as e:  # a pyiqa release this table does not know: say so rather than guess
        return Availability(metric, [], [], [f"unknown to this check ({e.args[0]}); try building it"])
    missing = [n for n in needs if not n.present()]
    notes = []
    if model_configs()[metric]["metric_opts"]["type"] in _NEEDS_CUDA and not _has_cuda_device():
        notes.append("needs a CUDA GPU (pyiqa builds it on device='cuda')")
    return Availability(metric, needs, missing, notes)


def all_availability() -> dict[str, Availability]:
    return {m: availability(m) for m in nr_metrics()}
