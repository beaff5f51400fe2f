"""One JSON round-trip for every result type (UI, CLI and exports share it).

Results are dataclasses deriving from :class:`Result`; numpy arrays and torch
tensors are stored as ``{"__ndarray__": [...], "dtype": ..., "shape": [...]}``
and every file carries its type name, so :func:`load_result` reads any of them back.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

_REGISTRY: dict[str, type["Result"]] = {}
# Modules that define result types, imported on demand so any result file reads back in a fresh process.
_RESULT_MODULES = ("mimi.analysis", "mimi.attacks", "mimi.evaluation", "mimi.interactions", "mimi.bench",
                   "mimi.population", "mimi.detection", "mimi.recovery", "mimi.strength", "mimi.study")


def _encode(value: Any) -> Any:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
        if "__result__" in value:
            return Result.from_dict(value)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class Result:
    """Base of all result dataclasses: ``to_dict``/``from_dict``, ``to_json``/``from_json``."""

    result_type: ClassVar[str] = "Result"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.result_type = cls.__name__
        _REGISTRY[cls.__name__] = cls

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {"__result__": self.result_type, **fields}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Result":
        kind = data.get("__result__")
        if kind not in _REGISTRY:
            import importlib

            for module in _RESULT_MODULES:
                importlib.import_module(module)
        if kind not in _REGISTRY:
            raise ValueError(f"unknown result type {kind!r}; known: {sorted(_REGISTRY)}")
        cls = _REGISTRY[kind]
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: _decode(v) for k, v in data.items() if k in names})

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), allow_nan=True)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, text: str) -> "Result":
        result = Result.from_dict(json.loads(text))
        if cls is not Result and not isinstance(result, cls):
            raise ValueError(f"expected a {cls.__name__}, the JSON holds a {type(result).__name__}")
        return result


def load_result(path: str | Path) -> Result:
    """Read any mimi result JSON file back into its result type."""
    return Result.from_json(Path(path).read_text())


def load_shipped_result(path: Path, what: str, fix: str, kind: type[Result] = Result) -> Result:
    """``kind.from_json`` of a precomputed file; any failure to read it becomes one ValueError naming
    ``what`` the file is, the file, and ``fix`` (the command that rewrites it)."""
    try:
        return kind.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ValueError(f"the {what} {path} is unreadable or corrupt ({detail}); {fix}") from None
