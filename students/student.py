"""A student: frozen backbone + calibration head, saved as a folder.

``save_pretrained(dir)`` writes ``config.json`` (backbone name and options,
the appended features, head shape, provenance) and ``model.safetensors`` (the head only: the backbone
is frozen and reloads from its own weights). ``from_pretrained(dir)`` is the
inverse and is also how a student becomes a teacher.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from students import PERCEPTION_OPTIONS, check_backbone
from students.calibration import CalibrationHead
from students.heads import head_from_config
from students.prior import PriorScorer, TeacherPrior
from w2s.core.clip import Clip
from w2s.core.errors import W2SError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def build_perception(backbone: str, options: dict | None = None, extras: dict | None = None, device: str | None = None):
    """The frozen part of a student: the backbone, with the feature ``extras`` asked for appended
    (``{motion: bool, temporal: bool, nss: bool}``, :mod:`students.perception`), on ``device``."""
    from students import make_backbone

    return make_backbone(backbone, **(extras or {}), device=device, **(options or {}))


class Student(torch.nn.Module):
    """``score = base + prior + head(features)``; higher is better.

    ``base`` is the backbone's own score of the clip (a VLM's level-word score)
    and 0 for a backbone without one (a CNN); ``prior`` is the weak teachers'
    ensemble (:mod:`students.prior`) for a student trained with one, else 0.
    """

    def __init__(
        self,
        backbone_name: str,
        head: CalibrationHead,
        backbone=None,
        meta: dict | None = None,
        backbone_options: dict | None = None,
        extras: dict | None = None,
        prior: TeacherPrior | None = None,
        make_teacher=None,
    ):
        super().__init__()
        self.backbone_name = backbone_name
        self.backbone_options = dict(backbone_options or {})
        self.extras = dict(extras or {})  # the features appended to the backbone's (students.perception)
        self.head = head
        self._backbone = backbone  # built on first use: scoring cached features needs none
        self.meta = dict(meta or {})
        self.prior = prior
        self._prior_scorer = None  # the prior's teachers, built on first use
        # how the prior's teachers are built (``teachers.make_teacher``): handed over by whoever loads the
        # student (``w2s.load``, the ``student:`` teacher), since the students package never imports teachers
        self.make_teacher = make_teacher
        self.device = "cpu"  # where the prior's teachers run (the backbone goes where .to() sends it)

    @classmethod
    def from_config(cls, student_config, head: CalibrationHead, meta: dict | None = None,
                    prior: TeacherPrior | None = None) -> Student:
        """A student as a run's ``student:`` config section describes it."""
        return cls(
            student_config.backbone, head, meta=meta, backbone_options=student_config.backbone_options,
            extras=student_config.extras(), prior=prior,
        )

    @property
    def backbone(self):
        if self._backbone is None:
            self._backbone = build_perception(self.backbone_name, self.backbone_options, self.extras, self.device)
            if self._backbone.dim != self.head.dim:
                raise W2SError(
                    f"student backbone {self.backbone_name} gives {self._backbone.dim} features, but the saved "
                    f"head takes {self.head.dim}: the backbone options differ from those it was trained with"
                )
        return self._backbone

    def score_features(self, features: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of cached features (N, dim); ``base`` is the backbone's own score, if any."""
        self.head.eval()
        with torch.no_grad():
            residual = self.head(features.float())
        return residual if base is None else base + residual

    def place(self, device: str) -> None:
        """Score on ``device``: the backbone is built there (moved, if it is built already), and so are
        the prior's teachers."""
        self.device = device
        if self._backbone is not None:
            self._backbone.to(device)

    def share_backbone(self, backbone) -> None:
        """Use an already built frozen backbone (the same weights: several students of one run share it)."""
        self._backbone = backbone

    def embed(self, clip: Clip) -> tuple[torch.Tensor, float]:
        """One clip's features and the base the branch's residual is added to: the backbone's own score
        (a VLM's level-word score; 0 for a CNN) plus, for a student with one, its teachers' prior."""
        features, base = self.backbone.embed_with_base(clip)
        if self.prior is not None:
            base = base + self.prior_scorer(clip)
        return features, float(base)

    @property
    def prior_scorer(self) -> PriorScorer:
        if self._prior_scorer is None:
            if self.make_teacher is None:
                raise W2SError(
                    "this student scores with its teachers' prior (student.prior: teachers) and was loaded without "
                    "a way to build them: load it with w2s.load(FOLDER), or pass make_teacher=teachers.make_teacher"
                )
            self._prior_scorer = PriorScorer(self.prior, self.make_teacher, self.device)
        return self._prior_scorer

    def score(self, clip: Clip) -> float:
        features, base = self.embed(clip)
        return float(self.score_features(features[None], torch.tensor([base]))[0])

    def save_pretrained(self, path: str | Path) -> None:
        """Write the folder atomically: a hidden temp folder renamed when complete (:mod:`w2s.core.io`)."""
        from w2s.core.io import replacing_folder

        state = {k: v.detach().contiguous() for k, v in self.head.state_dict().items()}
        config = {
            "backbone": self.backbone_name,
            "backbone_options": self.backbone_options,
            **self.extras,
            "head": self.head.config(),
            "prior": self.prior.to_dict() if self.prior is not None else None,
            "meta": self.meta,
        }
        with replacing_folder(path) as tmp:
            save_file(state, str(tmp / WEIGHTS_NAME))
            (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2))

    @classmethod
    def from_pretrained(cls, path: str | Path, make_teacher=None) -> Student:
        """``make_teacher``: how to build the prior's teachers, for a student trained with a prior."""
        path = Path(path)
        config_file, weights_file = path / CONFIG_NAME, path / WEIGHTS_NAME
        if not config_file.is_file() or not weights_file.is_file():
            raise W2SError(
                f"{path} is not a saved student: expected {CONFIG_NAME} and {WEIGHTS_NAME} in it "
                "(a run writes them to runs/NAME/round_XX/student/)"
            )
        damaged = f"{path} holds a damaged saved student"
        redo = "copy the folder again, or delete it and rerun `w2s run` on its run's config to train it again"
        try:
            config = json.loads(config_file.read_text())
            check_backbone(config["backbone"])
            head = head_from_config(config["head"])
        except W2SError:
            raise
        except Exception as e:  # a cut or foreign config shows up here in many forms
            raise W2SError(f"{damaged} ({type(e).__name__}: {' '.join(str(e).split())[:200]}); {redo}") from e
        try:
            weights = load_file(str(weights_file))
        except Exception as e:  # safetensors' own error type: a pickle or a truncated file lands here
            raise W2SError(
                f"{damaged}: {weights_file} is not a safetensors file ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                f"a student's head is only ever read from safetensors (nothing is unpickled): {redo}"
            ) from None
        try:
            head.load_state_dict(weights)
        except Exception as e:  # tensors of another shape or name: a file from another student
            raise W2SError(f"{damaged} ({type(e).__name__}: {' '.join(str(e).split())[:200]}); {redo}") from e
        head.eval()
        return cls(
            config["backbone"], head, meta=config.get("meta"), backbone_options=config.get("backbone_options"),
            extras={k: bool(config.get(k, False)) for k in PERCEPTION_OPTIONS},
            prior=TeacherPrior.from_dict(config.get("prior")), make_teacher=make_teacher,
        )
