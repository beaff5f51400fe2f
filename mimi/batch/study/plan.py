"""What a study computes: its parameters, its images, its models, and one job per (image, model).

A job's key is the SHA-256 of everything its result depends on: the model (name and weights hash
from its zoo card), the image (its pixels and label), the study's parameters and seed. Its seed is
drawn from (study seed, image hash), so it depends neither on the order the jobs run in nor on the
worker, and the models of a study see the same PGD start, pairs and contexts on an image (paired
comparisons across models). A :class:`StudyManifest` (``study.json``) records the parameters, the
images, the models and the jobs, so that a study folder can be read without loading a model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from mimi.analysis import DEFAULTS, default_pair_count, resolve_orders
from mimi.analysis.checks import check_samples
from mimi.analysis.requests import DisentanglementRequest, ProfileRequest, ShapleyRequest
from mimi.attacks.landing import DEFAULT_TOLERANCE, check_stop
from mimi.core.players import BASELINES, parse_grid_spec
from mimi.core.results import Result
from mimi.core.values import VALUE_FUNCTIONS
from mimi.data.datasets import ASSETS_DIR, gallery, load_fashion_mnist
from mimi.interactions import PAPER_RATIOS
from mimi.models import zoo

STUDY_VERSION = 1
STUDY_DIR = ASSETS_DIR / "study"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
LABELS_FILE = "labels.json"
#: Recipes (zoo cards' ``training.recipe``) whose models are adversarially trained, for claims (b) and (c).
AT_RECIPES = ("pgd-at", "trades")
#: An image size every valid grid fits (at most MAX_GRID_SIDE cells a side), to check the settings alone.
NOMINAL_SHAPE = (1, 256, 256)
#: The value of a pair count the user did not name (``pair_count``, ``d_pair_count``): when the params are
#: made, its default is fitted to the grid's pair set (:func:`mimi.analysis.default_pair_count`).
DEFAULT_COUNT = "default"
#: Pairs drawn per image for D^(m) by default (the dashboard's, :data:`DEFAULTS`).
D_PAIR_COUNT = DEFAULTS["disentanglement_pair_count"]


@dataclass(frozen=True)
class StudyParams:
    """The settings every job of a study shares (defaults: the dashboard's view, :data:`DEFAULTS`).

    Attack: untargeted PGD (``eps``, ``steps``, ``step_size`` None = 2.5 eps/steps, ``norm``, ``restarts``,
    ``random_start``; ``stop_utility`` U: equal strength, each image landed in [U, U + ``tolerance``] by
    ``stop_rule``, :mod:`mimi.attacks.landing`; the images that do not land are left out of the claims).
    Order profile: ``grid``, ``ratios``, ``pairs``,
    ``pair_count`` pairs drawn per image (None: the whole set), ``samples`` x ``contexts`` contexts per pair
    and order (None: whole designs), ``coverage``. Shapley map: ``shapley_samples`` permutation pairs (0: none).
    D^(m): ``d_samples`` units of whole designs for ``d_pair_count`` pairs per image. A pair count not named
    (:data:`DEFAULT_COUNT`) becomes its default (DEFAULTS' ``pair_count``; D^(m): :data:`D_PAIR_COUNT`) clamped
    to the grid's pair set; a named one is kept, and :meth:`check` refuses one the set cannot give. ``baseline``, ``value``;
    ``twin_value``: a second value function computed from the same forward passes (reported beside)."""

    eps: float = DEFAULTS["eps"]
    steps: int = DEFAULTS["steps"]
    step_size: Optional[float] = None
    norm: str = DEFAULTS["norm"]
    restarts: int = 1
    stop_utility: Optional[float] = DEFAULTS["stop_utility"]
    tolerance: float = DEFAULT_TOLERANCE
    stop_rule: str = "utility"
    random_start: bool = True
    grid: str = DEFAULTS["grid"]
    ratios: tuple = tuple(PAPER_RATIOS)
    pairs: str = DEFAULTS["pairs"]
    pair_count: Union[int, str, None] = DEFAULT_COUNT
    samples: int = DEFAULTS["samples"]
    contexts: Optional[int] = DEFAULTS["contexts"]
    coverage: int = DEFAULTS["coverage"]
    shapley_samples: int = DEFAULTS["shapley_samples"]
    d_samples: int = DEFAULTS["disentanglement_samples"]
    d_pair_count: Union[int, str, None] = DEFAULT_COUNT
    baseline: str = DEFAULTS["baseline"]
    value: str = DEFAULTS["value"]
    twin_value: Optional[str] = None

    def __post_init__(self) -> None:
        for name, default in (("pair_count", DEFAULTS["pair_count"]), ("d_pair_count", D_PAIR_COUNT)):
            if getattr(self, name) == DEFAULT_COUNT:
                object.__setattr__(self, name, default_pair_count(self.grid, self.pairs, default))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (what the manifest and the job keys hold)."""
        return json.loads(json.dumps({**self.__dict__, "ratios": [float(r) for r in self.ratios]}))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "StudyParams":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if "ratios" in known:
            known["ratios"] = tuple(float(r) for r in known["ratios"])
        return cls(**known)

    @property
    def twins(self) -> tuple[str, ...]:
        """The value functions computed beside ``value`` from the same forward passes (``twin_value``, if any)."""
        return (self.twin_value,) if self.twin_value else ()

    def attack_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`mimi.analysis.run_attack`."""
        return dict(eps=self.eps, steps=self.steps, step_size=self.step_size, norm=self.norm,
                    restarts=self.restarts, stop_utility=self.stop_utility, tolerance=self.tolerance,
                    stop_rule=self.stop_rule, random_start=self.random_start)

    def check(self, image_shape: Sequence[int]) -> int:
        """Every setting checked (ValueError naming the value) for images of ``image_shape`` (C, H, W);
        returns the forward passes one job plans (profile and Shapley map on x and x', D^(m) on x;
        the PGD steps not counted)."""
        for name in ("eps", "step_size"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if self.stop_utility is not None:
            check_stop(self.stop_utility, self.tolerance, self.stop_rule)
        for name in ("steps", "restarts", "coverage"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"unknown norm {self.norm!r}; choose linf or l2")
        if self.contexts is not None and (not isinstance(self.contexts, int) or self.contexts < 1):
            raise ValueError(f"contexts must be an integer >= 1 (or None: whole designs), got {self.contexts!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"unknown baseline {self.baseline!r}; choose {', '.join(BASELINES)}")
        for name in ("value", "twin_value"):
            kind = getattr(self, name)
            if kind not in VALUE_FUNCTIONS and not (name == "twin_value" and kind is None):
                raise ValueError(f"unknown value function {kind!r} for {name}; choose {', '.join(VALUE_FUNCTIONS)}")
        if self.twin_value == self.value:
            raise ValueError(f"twin_value {self.twin_value!r} is the study's value function already")
        if self.shapley_samples and self.shapley_samples < 2:
            raise ValueError(f"shapley_samples must be 0 (no Shapley map) or >= 2, got {self.shapley_samples}")
        check_samples(self.samples)   # every job's profile needs two units per pair for its squared change
        passes = self.profile_request().planned_passes(image_shape, 2)
        passes += self.disentanglement_request().planned_passes(image_shape, 1)
        if self.shapley_samples:
            passes += self.shapley_request().planned_passes(image_shape, 2)
        return passes

    def profile_request(self, seed: int = 0) -> ProfileRequest:
        """The order profile of x and x' that a job seeded ``seed`` computes."""
        return ProfileRequest(grid=self.grid, baseline=self.baseline, value=self.value, ratios=self.ratios,
                              pairs=self.pairs, pair_count=self.pair_count, samples=self.samples,
                              contexts=self.contexts, coverage=self.coverage, seed=seed)

    def shapley_request(self, seed: int = 0) -> ShapleyRequest:
        """The Shapley map of x and x' that a job seeded ``seed`` computes (when ``shapley_samples`` > 0)."""
        return ShapleyRequest(grid=self.grid, baseline=self.baseline, value=self.value, samples=self.shapley_samples,
                              seed=seed)

    def disentanglement_request(self, seed: int = 0) -> DisentanglementRequest:
        """D^(m) of x as a job computes its contributions: ``d_pair_count`` pairs, ``d_samples`` whole designs."""
        return DisentanglementRequest(grid=self.grid, baseline=self.baseline, value=self.value, ratios=self.ratios,
                                      pairs=self.pairs, pair_count=self.d_pair_count, samples=self.d_samples,
                                      contexts=None, coverage=self.coverage, seed=seed)


# --------------------------------------------------------------------------- images
@dataclass(frozen=True, eq=False)
class StudyImage:
    """One image of a study: ``pixels`` (C, H, W) in [0, 1], its ``label`` (None: unknown, the models'
    predictions stand in), where it comes from (``source``: ``gallery:K``, ``dataset:K`` or a file name),
    its gallery index when it has one, and ``sha256`` of its shape and float32 pixels. The pixels are a copy:
    a view would carry the whole data set's storage into every pickle (a Ray task per job)."""

    source: str
    label: Optional[int]
    pixels: torch.Tensor
    sha256: str
    gallery_index: Optional[int] = None

    @classmethod
    def make(cls, source: str, pixels: torch.Tensor, label: Optional[int],
             gallery_index: Optional[int] = None) -> "StudyImage":
        pixels = torch.as_tensor(pixels, dtype=torch.float32).clone()   # its own storage, never a data set's view
        if pixels.ndim != 3:
            raise ValueError(f"image {source} must be (C, H, W), got shape {tuple(pixels.shape)}")
        digest = hashlib.sha256(str(tuple(pixels.shape)).encode() + pixels.numpy().tobytes()).hexdigest()
        return cls(source, None if label is None else int(label), pixels, digest, gallery_index)

    def record(self) -> dict[str, Any]:
        return {"source": self.source, "label": self.label, "gallery_index": self.gallery_index,
                "sha256": self.sha256, "shape": list(self.pixels.shape)}


def gallery_images(indices: Sequence[int], assets_dir: Path = ASSETS_DIR) -> list[StudyImage]:
    """The shipped gallery images ``indices`` (0..99), with their labels."""
    items = gallery(assets_dir)
    bad = [i for i in indices if not 0 <= int(i) < len(items)]
    if bad:
        raise ValueError(f"gallery image {bad[0]} does not exist: indices must be in 0..{len(items) - 1}")
    chosen = []
    for index in indices:
        item = items[int(index)]
        pixels = torch.from_numpy(np.asarray(Image.open(item.path).convert("L"), dtype=np.float32) / 255)[None]
        chosen.append(StudyImage.make(f"gallery:{int(index)}", pixels, item.label, int(index)))
    return chosen


def dataset_images(indices: Sequence[int], data_dir: str | Path | None = None) -> list[StudyImage]:
    """Fashion-MNIST test images ``indices`` (from the Debian package or ``data_dir``)."""
    test = load_fashion_mnist("test", data_dir)
    bad = [i for i in indices if not 0 <= int(i) < len(test)]
    if bad:
        raise ValueError(f"test image {bad[0]} does not exist: the test set has {len(test)} images")
    return [StudyImage.make(f"dataset:{int(i)}", test.images[int(i)], int(test.labels[int(i)])) for i in indices]


def folder_images(folder: str | Path) -> list[StudyImage]:
    """Every PNG/JPEG/WebP/BMP file of ``folder`` (sorted by name) as it is: grayscale files as (1, H, W),
    colour files as (3, H, W), no resizing (images that do not fit a model are skipped, with the reason).
    Labels come from an optional ``labels.json`` {"file name": class index}; without one they are unknown."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"image folder {folder} does not exist")
    labels: dict[str, int] = {}
    if (folder / LABELS_FILE).exists():
        try:
            labels = {str(k): int(v) for k, v in json.loads((folder / LABELS_FILE).read_text()).items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{folder / LABELS_FILE} must map file names to class indices ({exc})") from None
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"image folder {folder} holds no PNG, JPEG, WebP or BMP file")
    images = []
    for path in files:
        try:
            with Image.open(path) as opened:
                gray = opened.mode in ("1", "L", "LA", "I", "I;16", "F")
                array = np.asarray(opened.convert("L" if gray else "RGB"), dtype=np.float32) / 255
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ValueError(f"cannot read image file {path} ({type(exc).__name__}: {exc})") from None
        pixels = torch.from_numpy(array)[None] if gray else torch.from_numpy(array).permute(2, 0, 1)
        images.append(StudyImage.make(path.name, pixels, labels.get(path.name)))
    return images


# --------------------------------------------------------------------------- models, jobs, manifest
def model_role(card: dict[str, Any]) -> str:
    """"standard", "adversarially trained" or "other" (Cutout, dropout, unknown), from the card's recipe."""
    recipe = (card.get("training") or {}).get("recipe")
    if recipe in AT_RECIPES:
        return "adversarially trained"
    return "standard" if recipe == "standard" else "other"


def weights_hash(name: str, card: dict[str, Any], zoo_dir: Path) -> str:
    """The SHA-256 of a model's weights: its card's, else computed from the weight file."""
    if card.get("sha256"):
        return str(card["sha256"])
    weights = card.get("weights") or card.get("source")  # a zoo card's file, or a registered model's path
    if not weights:
        raise ValueError(f"model {name!r} has neither a weights hash nor a weight file in its card")
    return zoo.sha256(Path(zoo_dir) / weights)


def study_image_seed(seed: int, image_sha256: str) -> int:
    """The seed of every job on an image (its PGD start, pairs, contexts, permutations), from the study
    seed and the image's hash; below 2^31 (the dashboard's seed bound, so a link reproduces the job). Not
    :func:`mimi.analysis.gallery.gallery_image_seed`, which seeds gallery images from their index."""
    state = np.random.SeedSequence([int(seed), int(image_sha256[:16], 16)]).generate_state(1)[0]
    return int(state) & 0x7FFFFFFF


def job_key(model: str, model_sha256: str, image: StudyImage, params: dict[str, Any], seed: int) -> str:
    """SHA-256 (first 32 hex digits) of the job's inputs."""
    payload = {"version": STUDY_VERSION, "model": model, "weights": model_sha256, "image": image.sha256,
               "label": image.label, "params": params, "seed": int(seed)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True, eq=False)
class Job:
    """One (image, model) job: its key, its seed, and the image itself."""

    key: str
    model: str
    image: StudyImage
    seed: int

    def record(self) -> dict[str, Any]:
        return {"key": self.key, "model": self.model, "image": self.image.source, "seed": self.seed}


@dataclass
class StudyManifest(Result):
    """``study.json``: ``params`` (everything the results depend on: the settings, the seed, each model's
    weights hash, the images' hash; compared when a study is run again), ``models`` (name -> weights hash,
    recipe, role, classes), ``images`` (source, label, gallery index, hash, shape), ``jobs`` (key, model,
    image, seed), ``skipped`` (model, image, reason: the pairs a model cannot take), the forward passes a
    job plans, and the command that made it."""

    job_result: ClassVar[str] = "StudyJobResult"
    params: dict
    models: dict
    images: list
    jobs: list
    skipped: list
    passes_per_job: int
    command: str = ""

    @property
    def settings(self) -> StudyParams:
        return StudyParams.from_dict(self.params)

    def orders(self) -> np.ndarray:
        """The orders m of every job's profile: the study's ratios on its grid."""
        rows, cols = parse_grid_spec(self.params["grid"])
        return resolve_orders(rows * cols, None, self.params["ratios"])[0]
