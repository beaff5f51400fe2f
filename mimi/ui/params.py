"""The dashboard's parameters: names (also the URL query keys), defaults, bounds, and the library's requests they
make (no Streamlit here).

Every parameter a page can change is declared once as a :class:`Param`; :func:`parse` turns a
URL value into a bounded value or explains why it was refused, so that no request asks for
absurd work. The settings dict of a session is keyed by these URL names (``pcount``, ``ctx``, ``tse``, …); only
this module translates them into the library's names: :func:`profile_request`, :func:`disentanglement_request`,
:func:`heatmap_request`, :func:`shapley_request`, :func:`recovery_request`, :func:`leave_one_out_request`,
:func:`attack_request` and
:func:`refinement_limits`. The interaction defaults come from :data:`mimi.analysis.DEFAULTS`, the default
view of the engine (on Fashion-MNIST), and so do the attack's: the equal-ε budget from its ``eps`` and ``steps``,
the equal-strength one from its ``equal_strength``; a model of another dataset starts at its input space's grid and ε
(:func:`input_space_defaults`; the equal-strength cap is the same for every dataset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from mimi.analysis import DEFAULTS
from mimi.analysis.requests import AttackRequest, DisentanglementRequest, HeatmapRequest, ProfileRequest, ShapleyRequest
from mimi.core.pairs import PAPER_RATIOS
from mimi.core.players import parse_grid_spec
from mimi.core.values import VALUE_FUNCTIONS
from mimi.data.datasets import FMNIST_CLASSES
from mimi.data.input_spaces import DEFAULT_INPUT_SPACE, InputSpace
from mimi.defenses.recovery import DEFAULT_RANDOM_ORDERS
from mimi.defenses.requests import LeaveOneOutRequest, RecoveryRequest

COARSE_RATIOS = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
GRIDS = ("2x2", "3x3", "4x4", "7x7", "8x8", "14x14", "16x16")   # 8x8: CIFAR-10's, 16x16: ImageNet's (the paper's)
#: The heatmap's order bands (the ``band`` parameter) as ranges of r: low [0, 1/3), middle, high [2/3, 1]. Not
#: :data:`mimi.defenses.strength.BANDS`, the claims' low and high bands of the strength shares (no middle band).
HEATMAP_BANDS = {"low": (0.0, 1 / 3), "middle": (1 / 3, 2 / 3), "high": (2 / 3, 1.0)}
#: Forward passes one computation may take, checked before any planning (about 10 minutes of a
#: Fashion-MNIST model on 2 CPU cores); the time bound users meet is ``mimi.ui.compute.MAX_SECONDS``.
MAX_FORWARD_PASSES = 2_000_000
#: Seconds of compute each order profile may take to refine (the "budget" parameter's default).
DEFAULT_BUDGET = 30.0
#: The attack protocols in words: equal strength (the dashboard's default) and equal ε.
PROTOCOLS = {"strength": "equal strength (the paper's)", "eps": "equal ε"}
#: The parameters whose default is model A's input space's (:func:`input_space_defaults`).
INPUT_SPACE_PARAMS = ("grid", "eps")
#: The parts of /lesson, in order: an introduction, then the paper's claims (a), (b) and (c).
LESSON_PARTS = ("intro", "a", "b", "c")


@dataclass(frozen=True)
class Param:
    """One parameter: query key, default, type, and its bounds (numbers) or choices (strings)."""

    key: str
    label: str
    default: Any
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Optional[Sequence[Any]] = None
    help: str = ""

    def bounds_text(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        return f"{self.low:g} … {self.high:g}"

    def parse(self, text: str) -> Any:
        """The value for URL text ``text``; ValueError (with the bound) when it is not allowed."""
        kind = type(self.default)
        try:
            value = kind(float(text)) if kind is int and "." in str(text) else kind(text)
        except (TypeError, ValueError) as exc:
            kind_words = {int: "a whole number", float: "a number"}.get(kind, f"a {kind.__name__}")
            raise ValueError(f"{self.label} ({self.key}={text!r}) is not {kind_words}; allowed: "
                             f"{self.bounds_text()}") from exc
        return self.check(value)

    def check(self, value: Any) -> Any:
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"{self.key}={value!r}; allowed: {self.bounds_text()}")
        elif not (self.low <= value <= self.high):
            raise ValueError(f"{self.key}={value!r} is out of bounds; allowed: {self.bounds_text()}")
        return value


def analysis_defaults() -> dict[str, Any]:
    return dict(DEFAULTS)


def input_space_defaults(space: InputSpace) -> dict[str, Any]:
    """The defaults an input space sets in place of the dashboard's (which are Fashion-MNIST's): for any
    other input space, its grid of players and its ε (CIFAR-10: 8x8 and 8/255; ImageNet: 16x16 and 4/255)."""
    if space.name == DEFAULT_INPUT_SPACE:
        return {}
    return {"grid": space.grid, "eps": float(space.eps)}


def build_params() -> dict[str, Param]:
    d = analysis_defaults()
    strength = d["equal_strength"]
    class_choices = ("none",) + tuple(str(i) for i in range(len(FMNIST_CLASSES)))
    params = [
        # image (sidebar)
        Param("img", "gallery image", 0, 0, 99, help="index into the shipped gallery (10 per class)"),
        # attack: the protocol, then each protocol's own budget (restarts and norm are shared)
        Param("protocol", "attack protocol", "strength", choices=tuple(PROTOCOLS),
              help="equal strength (the paper's): each model's attack stops once it has lowered v of the true class "
                   "by the same U, so that the models' ΔJ differ because of the models, not because the attack got "
                   "further on one; equal ε: each model gets the same budget ε, so a robust model loses much less v"),
        Param("norm", "norm", str(d["norm"]), choices=("linf", "l2"),
              help="L∞ bounds every pixel; L2 the total change"),
        Param("restarts", "random restarts", 1, 1, 10),
        Param("eps", "ε (perturbation budget)", float(d["eps"]), 0.0, 1.0,
              help="L∞: largest change of any pixel (pixels are in [0, 1]); L2: length of δ"),
        Param("steps", "steps", int(d["steps"]), 1, 200, help="gradient steps"),
        Param("step", "step size (0 = 2.5·ε/steps)", 0.0, 0.0, 1.0),
        Param("target", "target class", "none", choices=class_choices,
              help="none: untargeted (any wrong class); a class: push the prediction to that class"),
        Param("stop", "stop rule", "none", choices=("none", "success"),
              help="none: all steps; success: stop once misclassified (or at the target class)"),
        Param("utility", "utility U", float(strength["stop_utility"]), 0.01, 50.0,
              help="each model's attack stops once a gradient step has lowered v of the true class by U (in the "
                   "units of the value function v), and is landed in [U, U + band] by bisecting that step"),
        Param("tol", "landing band", float(strength["tolerance"]), 0.001, 5.0,
              help="the width of the band [U, U + band] the drop of v must land in"),
        Param("ueps", "largest ε", float(strength["eps"]), 0.0, 1.0,
              help="a cap, not the attack's strength: the attack stops at U, usually well inside it; an image that "
                   "cannot lose U within it is reported as not landed"),
        Param("usteps", "steps at most", int(strength["steps"]), 1, 200, help="gradient steps before giving up on U"),
        Param("ustep", "step size (0 = 2.5·ε/steps)", float(strength["step_size"]), 0.0, 1.0),
        Param("rstart", "random start", "on" if strength["random_start"] else "off", choices=("on", "off"),
              help="off: PGD starts at x, as the paper's released code; on: at a uniform draw in the ε-ball "
                   "(Madry et al.), which in this large cap is mostly noise that the landed δ keeps"),
        # interactions
        Param("grid", "grid (players)", str(d["grid"]), choices=GRIDS, help="the image is cut into rows×cols cells"),
        Param("pairs", "pair set", str(d["pairs"]), choices=("neighbors", "all"),
              help="neighbors: pairs of 8-neighbouring cells (the paper); all: every pair of cells"),
        Param("pcount", "pairs drawn (0 = all)", int(d["pair_count"]), 0, 2000,
              help="pairs drawn at random from the pair set (the paper: 200); the bars estimate the mean over "
                   "the whole set and their error bars include the luck of the draw; 0 evaluates every pair"),
        Param("samples", "samples per pair and order", int(d["samples"]), 2, 64,
              help="independent units of contexts S per pair and order (at least 2, for the error bars)"),
        Param("ctx", "contexts per sample (0 = a whole design)", int(d["contexts"]), 0, 64,
              help="contexts S per pair in each sample; each pair gets samples × contexts contexts per order "
                   "(the paper: 100). Many pairs with few contexts beat few pairs with many"),
        Param("budget", "time budget per chart (s)", DEFAULT_BUDGET, 1.0, 600.0,
              help="each order profile shows its first round at once, then adds rounds (fresh pairs and contexts "
                   "on the orders whose error bars are largest) and redraws until its rounds have taken this long"),
        Param("tse", "target SE (0 = none)", 0.0, 0.0, 100.0,
              help="refining also stops once every error bar of the chart is at most this (± one SE)"),
        Param("baseline", "baseline (absent cells)", str(d["baseline"]), choices=("mean", "zero", "blur")),
        Param("value", "value function v", str(d["value"]), choices=VALUE_FUNCTIONS),
        Param("orders", "orders", "paper", choices=("paper", "coarse"),
              help="paper: r ∈ {0.1 … 0.9, 0.95, 1}; coarse: r ∈ {0.1, 0.3, 0.5, 0.7, 0.9, 1}"),
        Param("seed", "seed", 0, 0, 2**31 - 1),
        Param("yaxes", "y axes of the order profiles", "own", choices=("own", "shared"),
              help="own: one scale per model, so that a model with small interactions still shows its shape; "
                   "shared: one scale, so that magnitudes compare at a glance"),
        # pairs page
        Param("cell", "cell", -1, -1, 255, help="selected cell index (row × cols + col); -1 = the middle cell"),
        Param("band", "orders shown", "spread", choices=("spread", "low", "middle", "high", "single"),
              help="spread: r = " + ", ".join(f"{r:g}" for r in d["heatmap_ratios"]) + " pooled; low: r < 1/3 "
                   "(simple, local); middle; high: r ≥ 2/3 (complex, global); or a single order"),
        Param("ratio", "single order r", 1.0, choices=PAPER_RATIOS, help="used when 'single' is chosen"),
        Param("hsamples", "samples per order (heatmap)", int(d["heatmap_samples"]), 2, 64),
        Param("ssamples", "permutation pairs (Shapley)", int(d["shapley_samples"]), 2, 128),
        Param("dgrid", "decomposition grid", str(d["decomposition_grid"]), choices=("2x2", "3x3", "3x4", "4x4"),
              help="exact: all 2^n coalitions (3x3: 512 per image; 4x4: 65,536), so at most 4x4"),
        # disentanglement / defenses
        Param("images", "gallery images", 10, 1, 100, help="class by class: the first test image of each class in turn, then the second, …"),
        Param("dsamples", "samples per order (D)", int(d["disentanglement_samples"]), 2, 64),
        Param("dpcount", "pairs per image (D; 0 = all)", int(d["disentanglement_pair_count"]), 0, 2000,
              help="pairs drawn from the pair set for each image (each image draws its own); the band covers "
                   "the draw"),
        # lesson ("step" is the attack's step size)
        Param("part", "lesson part", 1, 1, len(LESSON_PARTS),
              help="the part of /lesson shown: 1 the introduction, 2 to 4 the claims (a) to (c)"),
        Param("projector", "projector mode", 0, 0, 1, help="1: larger fonts and the sidebar collapsed, for a room"),
    ]
    return {p.key: p for p in params}


def order_ratios(choice: str) -> tuple[float, ...]:
    return PAPER_RATIOS if choice == "paper" else COARSE_RATIOS


def band_ratios(band: str, ratio: float = 1.0) -> tuple[float, ...]:
    """The ratios r shown by a band: spread (the default view's), low (r < 1/3), middle, high (r ≥ 2/3), single."""
    if band == "spread":
        return tuple(analysis_defaults()["heatmap_ratios"])
    if band == "single":
        return (float(ratio),)
    if band not in HEATMAP_BANDS:
        raise ValueError(f"unknown band {band!r}; choose spread, low, middle, high or single")
    low, high = HEATMAP_BANDS[band]
    return tuple(r for r in PAPER_RATIOS if low <= r < high or (band == "high" and r == 1.0))


# --------------------------------------------------------------------------- the library's requests
def _order_fields(p: dict) -> dict[str, Any]:
    """The settings ``p`` that the order profile and D^(m) share (``ctx``: contexts per sample, 0 for whole
    designs)."""
    return dict(grid=p["grid"], baseline=p["baseline"], value=p["value"],
                ratios=tuple(float(r) for r in order_ratios(p["orders"])), pairs=p["pairs"],
                contexts=int(p["ctx"]) or None, coverage=DEFAULTS["coverage"], seed=int(p["seed"]))


def profile_request(p: dict) -> ProfileRequest:
    """The order profile that settings ``p`` ask for (``pcount`` pairs, 0 for all; ``samples`` per order)."""
    return ProfileRequest(pair_count=int(p["pcount"]) or None, samples=int(p["samples"]), **_order_fields(p))


def disentanglement_request(p: dict) -> DisentanglementRequest:
    """D^(m) as settings ``p`` ask for it: the profile's settings with D's own pairs (``dpcount``) and samples
    (``dsamples``)."""
    return DisentanglementRequest(pair_count=int(p["dpcount"]) or None, samples=int(p["dsamples"]),
                                  **_order_fields(p))


def refinement_limits(p: dict) -> tuple[float, Optional[float]]:
    """(seconds, target SE or None): how long each order profile refines (``budget``), and the error bar that ends
    it sooner (``tse``, 0 for none)."""
    return float(p["budget"]), float(p["tse"]) or None


def heatmap_request(p: dict, cell: int, ratios: Sequence[float]) -> HeatmapRequest:
    """The pair heatmap of ``cell`` pooled over ``ratios`` (``hsamples`` samples per order)."""
    return HeatmapRequest(grid=p["grid"], baseline=p["baseline"], value=p["value"], cell=int(cell),
                          ratios=tuple(ratios), samples=int(p["hsamples"]), coverage=DEFAULTS["coverage"],
                          seed=int(p["seed"]))


def shapley_request(p: dict) -> ShapleyRequest:
    """The Shapley map (``ssamples`` permutation pairs)."""
    return ShapleyRequest(grid=p["grid"], baseline=p["baseline"], value=p["value"], samples=int(p["ssamples"]),
                          seed=int(p["seed"]))


def recovery_request(p: dict) -> RecoveryRequest:
    """The recovery curve: the Shapley map's settings (the change of the Shapley values ranks the cells,
    ``ssamples`` permutation pairs) and the random orders of its baseline curve."""
    shapley = shapley_request(p)
    return RecoveryRequest(grid=shapley.grid, baseline=shapley.baseline, value=shapley.value, samples=shapley.samples,
                           random_orders=DEFAULT_RANDOM_ORDERS, seed=shapley.seed)


def leave_one_out_request(p: dict) -> LeaveOneOutRequest:
    """ML-LOO's attributions, each input scored for its predicted class (what a detector sees)."""
    return LeaveOneOutRequest(grid=p["grid"], baseline=p["baseline"], value=p["value"], target="predicted")


def attack_request(p: dict, protocol: Optional[str] = None) -> AttackRequest:
    """The PGD attack of the session's protocol (or ``protocol``). Equal strength: untargeted, landed at U
    (``utility``, band ``tol``) within its own ε cap (``ueps``), steps (``usteps``), step size (``ustep``) and start
    (``rstart``); equal ε: its budget (``eps``, ``steps``, ``step``), target and stop rule."""
    common = dict(norm=p["norm"], restarts=int(p["restarts"]), value=p["value"], seed=int(p["seed"]))
    if (protocol or p["protocol"]) == "strength":
        return AttackRequest(eps=float(p["ueps"]), steps=int(p["usteps"]), step_size=float(p["ustep"]) or None,
                             targeted=None, stop_utility=float(p["utility"]), tolerance=float(p["tol"]),
                             stop_rule="utility", random_start=p["rstart"] == "on", early_stop=False, **common)
    return AttackRequest(eps=float(p["eps"]), steps=int(p["steps"]), step_size=float(p["step"]) or None,
                         targeted=None if p["target"] == "none" else int(p["target"]), stop_utility=None,
                         early_stop=p["stop"] == "success", **common)


#: Mask rows per (order, pair, sample) of the engine's order-profile estimator at the dashboard's
#: coverage 1 with whole designs (measured at the paper's orders: 13 to 23.4 on grids from 3x3 to
#: 16x16; with c contexts per sample at most 4c), and per (order, sample) and cell of a pair heatmap
#: (6.0 to 8.1), rounded up.
PROFILE_ROWS_PER_UNIT = 25
HEATMAP_ROWS_PER_CELL = 9


def estimate_passes(kind: str, *, grid: str, orders: int, pairs: int = 0, samples: int = 2, images: int = 1,
                    contexts: int = 0) -> int:
    """A cheap upper estimate of forward passes, to refuse absurd requests before any work (even the
    engine's exact planning pass): ``images`` is 2 for clean + adversarial, B for D^(m); ``pairs`` the
    pairs evaluated; ``contexts`` per sample (0: whole designs)."""
    rows, cols = parse_grid_spec(grid)
    n = rows * cols
    per_unit = min(PROFILE_ROWS_PER_UNIT, 4 * contexts) if contexts else PROFILE_ROWS_PER_UNIT
    per_image = {"profile": per_unit * orders * pairs * samples + n + 2,
                 "heatmap": HEATMAP_ROWS_PER_CELL * n * orders * samples,
                 "shapley": 2 * (n - 1) * samples + 4,
                 "decomposition": 2 ** n}[kind]
    return images * per_image


class WorkTooLarge(ValueError):
    """A request above MAX_FORWARD_PASSES; the message says how to shrink it."""


def check_work(total: int, what: str) -> None:
    if total > MAX_FORWARD_PASSES:
        raise WorkTooLarge(f"{what} would need {total:,} forward passes; the dashboard's bound is "
                           f"{MAX_FORWARD_PASSES:,} per computation. Use fewer samples, pairs, orders or images, or "
                           f"a coarser grid (the `mimi analyze` CLI has no bound).")
