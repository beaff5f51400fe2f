"""The gallery studies behind the /detection, /recovery and /defenses pages, and their files.

``mimi defenses`` runs, per zoo model, over gallery images:

- ``detection``: :func:`mimi.defenses.detection.detection_study` (ML-LOO vs order-band detectors: ROC, AUC, CIs);
- ``recovery``: :func:`mimi.defenses.recovery.recovery_study` (recovered fraction R(k), recoverability);
- ``strength``: :func:`mimi.defenses.strength.gallery_strength` (D^(m) with the per-image interaction strength that
  :func:`mimi.defenses.strength.order_strength` turns into normalized order profiles),

and writes each result to ``assets/defenses/<kind>/<model>.json``. The pages read these files (a gallery-wide
computation takes minutes per model on a CPU) and say so; :func:`load_study` reads one back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from mimi.core.results import Result, load_shipped_result
from mimi.data.datasets import ASSETS_DIR
from mimi.defenses.detection import detection_study
from mimi.defenses.recovery import recovery_study
from mimi.defenses.strength import gallery_strength

DEFENSES_DIR = ASSETS_DIR / "defenses"
KINDS = ("detection", "recovery", "strength")
RESULT_TYPES = {"detection": "DetectionStudy", "recovery": "RecoveryStudy", "strength": "Disentanglement"}


def study_path(kind: str, name: str, folder: str | Path = DEFENSES_DIR) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown study {kind!r}; choose {', '.join(KINDS)}")
    return Path(folder) / kind / f"{name}.json"


def load_study(kind: str, name: str, folder: str | Path = DEFENSES_DIR) -> Optional[Result]:
    """The precomputed ``kind`` study of model ``name``, or None when there is none. A file that does not hold
    that study of that model raises ValueError naming the file and the command that rewrites it."""
    path = study_path(kind, name, folder)
    if not path.exists():
        return None
    fix = f"recompute it with `mimi defenses --models {name} --only {kind}`"
    result = load_shipped_result(path, f"{kind} study", fix)
    model = result.params.get("model") if kind == "strength" else getattr(result, "model", None)
    if type(result).__name__ != RESULT_TYPES[kind] or model != name:
        raise ValueError(f"the {kind} study {path} holds a {type(result).__name__} of model {model!r}, not the "
                         f"{RESULT_TYPES[kind]} of {name!r}; {fix}")
    return result


def run_study(kind: str, model, *, model_name: str, images=None, seed: int = 0, device=None, progress=None,
              **options: Any) -> Result:
    """One gallery study of ``kind`` for ``model`` (``options``: keyword arguments of its function)."""
    run = {"detection": detection_study, "recovery": recovery_study, "strength": gallery_strength}
    if kind not in run:
        raise ValueError(f"unknown study {kind!r}; choose {', '.join(KINDS)}")
    return run[kind](model, model_name=model_name, images=images, seed=seed, device=device, progress=progress,
                     **options)
