"""The dashboard's parameters: names (also the URL query keys), defaults, bounds (no Streamlit here).

Every parameter a page can change is declared once as a :class:`Param`; :func:`parse` turns a
URL value into a bounded value or explains why it was refused, so that no request asks for
absurd work. The interaction defaults come from :data:`mimi.analysis.DEFAULTS`, the default
view of the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from mimi.data import FMNIST_CLASSES
from mimi.values import VALUE_FUNCTIONS

PAPER_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
GRIDS = ("2x2", "3x3", "4x4", "7x7", "14x14")
BANDS = {"low": (0.0, 1 / 3), "middle": (1 / 3, 2 / 3), "high": (2 / 3, 1.0)}
MAX_FORWARD_PASSES = 4_000_000  # per computation: a bound on any single request's work


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
            raise ValueError(f"{self.key}={text!r} is not a {kind.__name__}; allowed: {self.bounds_text()}") from exc
        return self.check(value)

    def check(self, value: Any) -> Any:
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"{self.key}={value!r}; allowed: {self.bounds_text()}")
        elif not (self.low <= value <= self.high):
            raise ValueError(f"{self.key}={value!r} is out of bounds; allowed: {self.bounds_text()}")
        return value


def analysis_defaults() -> dict[str, Any]:
    from mimi.analysis import DEFAULTS
    return dict(DEFAULTS)


def build_params() -> dict[str, Param]:
    d = analysis_defaults()
    class_choices = ("none",) + tuple(str(i) for i in range(len(FMNIST_CLASSES)))
    params = [
        # image and models (sidebar)
        Param("img", "gallery image", 0, 0, 99, help="index into the shipped gallery (10 per class)"),
        # attack
        Param("norm", "norm", "linf", choices=("linf", "l2"), help="L∞ bounds every pixel; L2 the total change"),
        Param("eps", "ε (perturbation budget)", 0.1, 0.0, 1.0,
              help="L∞: largest change of any pixel (pixels are in [0, 1]); L2: length of δ"),
        Param("steps", "steps", 20, 1, 200, help="gradient steps"),
        Param("step", "step size (0 = 2.5·ε/steps)", 0.0, 0.0, 1.0),
        Param("restarts", "random restarts", 1, 1, 10),
        Param("target", "target class", "none", choices=class_choices,
              help="none: untargeted (any wrong class); a class: push the prediction to that class"),
        Param("stop", "stop rule", "none", choices=("none", "success", "utility"),
              help="none: all steps; success: stop once misclassified; utility: the paper's rule, stop once "
                   "v(x) − v(x') reaches the threshold, so that models are compared at equal attack strength"),
        Param("utility", "utility threshold", 8.0, 0.1, 50.0),
        # interactions
        Param("grid", "grid (players)", str(d["grid"]), choices=GRIDS, help="the image is cut into rows×cols cells"),
        Param("pairs", "pairs", str(d["pairs"]), choices=("neighbors", "all"),
              help="neighbors: pairs of 8-neighbouring cells (the paper); all: every pair of cells"),
        Param("samples", "contexts S per pair and order", int(d["samples"]), 1, 256,
              help="Monte-Carlo samples; the error bars shrink as 1/√samples"),
        Param("baseline", "baseline (absent cells)", str(d["baseline"]), choices=("mean", "zero", "blur")),
        Param("value", "value function v", str(d["value"]), choices=VALUE_FUNCTIONS),
        Param("orders", "orders", "paper", choices=("paper", "coarse"),
              help="paper: r ∈ {0.1 … 0.9, 0.95, 1}; coarse: r ∈ {0.1, 0.3, 0.5, 0.7, 0.9, 1}"),
        Param("seed", "seed", 0, 0, 2**31 - 1),
        # pairs page
        Param("cell", "cell", -1, -1, 195, help="selected cell index (row × cols + col); -1 = middle"),
        Param("band", "orders shown", "high", choices=("low", "middle", "high", "single"),
              help="low: r < 1/3 (simple, local), middle, high: r ≥ 2/3 (complex, global), or one order"),
        Param("ratio", "single order r", 1.0, choices=PAPER_RATIOS),
        Param("dgrid", "decomposition grid", "3x3", choices=("2x2", "3x3", "4x4"),
              help="exact: 2^n coalitions, so at most 4x4 (65,536 forward passes)"),
        # disentanglement / defenses
        Param("images", "gallery images", 10, 1, 100, help="the first images of each class, in turn"),
        Param("dsamples", "contexts per pair and order", 8, 1, 64),
    ]
    return {p.key: p for p in params}


def order_ratios(choice: str) -> tuple[float, ...]:
    return PAPER_RATIOS if choice == "paper" else (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def band_ratios(band: str, ratios: Sequence[float] = PAPER_RATIOS) -> tuple[float, ...]:
    """The ratios r of ``ratios`` in the band (low: r < 1/3, middle: 1/3 ≤ r < 2/3, high: r ≥ 2/3)."""
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}; choose low, middle or high")
    low, high = BANDS[band]
    chosen = tuple(r for r in ratios if low <= r < high or (band == "high" and r == 1.0))
    return chosen


def grid_shape(grid: str) -> tuple[int, int]:
    rows, _, cols = grid.partition("x")
    return int(rows), int(cols or rows)


def pair_count(grid: str, pairs: str) -> int:
    """Unordered pairs of cells: 8-neighbours, or all n(n−1)/2."""
    rows, cols = grid_shape(grid)
    n = rows * cols
    if pairs == "all":
        return n * (n - 1) // 2
    return rows * (cols - 1) + (rows - 1) * cols + 2 * (rows - 1) * (cols - 1)


def check_work(passes: int, what: str) -> None:
    """Refuse a request of more than MAX_FORWARD_PASSES forward passes, saying how to shrink it."""
    if passes > MAX_FORWARD_PASSES:
        raise ValueError(f"{what} would need {passes:,} forward passes; the dashboard's bound is "
                         f"{MAX_FORWARD_PASSES:,} per computation. Use fewer samples, a coarser grid, fewer "
                         f"orders, neighbouring pairs or fewer images (the `mimi analyze` CLI has no bound).")
