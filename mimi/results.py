"""One JSON round-trip for every result type (UI, CLI and exports share it).

Results are dataclasses deriving from :class:`Result`; numpy arrays and torch
tensors are stored as ``{"__ndarray__": [...], "dtype": ..., "shape": [...]}``
and every file carries its type name, so :func:`load_result` reads any of them back.

A type that moved flat fields into nested records lists them in ``_legacy_fields`` (old name -> dotted
path of the new place): the old names still read, with a DeprecationWarning, and files written in the
flat layout still load (:meth:`Result.from_dict`).
"""

from __future__ import annotations

import dataclasses
import json
import typing
import warnings
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


def _follow(value: Any, path: str) -> Any:
    """The value at a dotted ``path`` of attributes; None as soon as one step is None."""
    for name in path.split("."):
        if value is None:
            return None
        value = getattr(value, name)
    return value


def _record_type(owner: type, name: str) -> type:
    """The result type of field ``name`` of ``owner`` (``Optional[...]`` unwrapped)."""
    hint = typing.get_type_hints(owner)[name]
    for kind in (hint, *typing.get_args(hint)):
        if isinstance(kind, type) and issubclass(kind, Result):
            return kind
    raise TypeError(f"{owner.__name__}.{name} is not a result record")


def _nested_fields(owner: type, tree: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``owner`` from a tree of decoded values (subtrees are dicts): a subtree becomes the
    record of its field's type, or None when every value in it is None (an absent adversarial side)."""
    values = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            kind = _record_type(owner, name)
            fields = _nested_fields(kind, value)
            value = None if all(v is None for v in fields.values()) else kind(**fields)
        values[name] = value
    return values


class Result:
    """Base of all result dataclasses: ``to_dict``/``from_dict``, ``to_json``/``from_json``.

    ``_legacy_fields`` maps a deprecated flat field name to the dotted path of its new place: reading
    the old name warns (DeprecationWarning) and returns the value there (None when a record on the way
    is None); setting it is refused."""

    result_type: ClassVar[str] = "Result"
    _legacy_fields: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.result_type = cls.__name__
        _REGISTRY[cls.__name__] = cls

    def __getattr__(self, name: str) -> Any:
        path = type(self)._legacy_fields.get(name)
        if path is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        warnings.warn(f"{type(self).__name__}.{name} is deprecated and goes in the next release; use .{path}",
                      DeprecationWarning, stacklevel=2)
        return _follow(self, path)

    def __setattr__(self, name: str, value: Any) -> None:
        path = type(self)._legacy_fields.get(name)
        if path is not None:
            raise AttributeError(f"{type(self).__name__}.{name} is a deprecated read-only name; set .{path}")
        super().__setattr__(name, value)

    @classmethod
    def _from_legacy(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the flat fields of an older file (``_legacy_fields``) moved to their nested places."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        moved = [k for k in data if k in cls._legacy_fields and k not in names]
        if not moved:
            return data
        tree: dict[str, Any] = {}
        for key in moved:
            *parents, leaf = cls._legacy_fields[key].split(".")
            node = tree
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = _decode(data[key])
        return {**{k: v for k, v in data.items() if k not in moved}, **_nested_fields(cls, tree)}

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
        return cls(**{k: _decode(v) for k, v in cls._from_legacy(data).items() if k in names})

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



@dataclasses.dataclass
class GalleryStudy(Result):
    """What a study of one model over gallery images records about them (the base of the detection and
    recovery studies): the ``model``, its ``grid`` of ``n`` cells, the gallery indices ``images``
    (``selection`` says which in words), their ``labels``, and the model's ``predictions`` before and
    ``adv_predictions`` after the attack."""

    model: str
    grid: str
    n: int
    selection: str
    images: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    adv_predictions: np.ndarray

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
