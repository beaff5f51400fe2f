"""One JSON round-trip for every result type (UI, CLI and exports share it).

Results are dataclasses deriving from :class:`Result`. A result file (schema ``mimi.result/2``) is plain
JSON a reader without mimi can use (``jq .probabilities out.json``, ``pandas.DataFrame(data["mean"])``)::

    {"schema": "mimi.result/2", "__result__": "ImageReport", "model": "fmnist-standard",
     "probabilities": [0.0125, 0.97, null, "Infinity"],
     "attack": {"__result__": "AttackResult", "x_adv": [[[[0.25, 1.0]]]], ...},
     "dtypes": {"/probabilities": {"dtype": "float32", "shape": [4]},
                "/attack/x_adv": {"dtype": "float32", "shape": [1, 1, 1, 2], "tensor": true}}}

- numpy arrays and torch tensors are nested lists (a 0-d array is its number); the top-level ``dtypes``
  maps the JSON Pointer (RFC 6901) of each to its numpy ``dtype`` and ``shape`` (``"tensor": true`` for a
  tensor), so :func:`load_result` gives them back with their dtype and shape, empty ones included;
- float32 and float16 values are written in their shortest exact form (``0.1``, not ``0.10000000149011612``);
- JSON has no NaN or infinity (Python's ``json`` writes ``NaN``, which jq 1.6 reads as null and strict parsers
  refuse), so a NaN is ``null`` and an infinity is the string ``"Infinity"`` or ``"-Infinity"``; a non-finite
  Python float outside an array is listed in ``dtypes`` as ``{"dtype": "float"}`` (so it reads back a float);
- nested results are ``{"__result__": type name, field: value, ...}``; tuples are written as lists.

Files of the first layout (no ``schema``; arrays as ``{"__ndarray__": [...], "dtype": ..., "shape": [...]}``,
NaN as ``NaN``) still read.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

#: The layout :meth:`Result.to_json` writes; files without a ``schema`` field are of the first one.
SCHEMA = "mimi.result/2"
_SCHEMA_PREFIX, _SCHEMA_VERSION = "mimi.result/", 2
#: Top-level keys of a result file besides its fields (no result type may have a field of these names).
_RESERVED = ("schema", "dtypes")
_NON_FINITE = {"Infinity": math.inf, "-Infinity": -math.inf}
_LEAF = object()   # the key of a spec in the trie of :func:`_restore`

_REGISTRY: dict[str, type["Result"]] = {}
# Modules that define result types, imported on demand so any result file reads back in a fresh process.
_RESULT_MODULES = ("mimi.analysis", "mimi.attacks", "mimi.models.evaluation", "mimi.interactions", "mimi.bench",
                   "mimi.batch.engine", "mimi.batch.gallery", "mimi.batch.population", "mimi.batch.study",
                   "mimi.defenses.detection", "mimi.defenses.recovery", "mimi.defenses.strength")


# --------------------------------------------------------------------------- writing
def _pointer(parent: str, key: Any) -> str:
    """The JSON Pointer of ``key`` under ``parent`` (``~`` and ``/`` escaped as RFC 6901 says)."""
    return f"{parent}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _float(value: float) -> Any:
    """A float as JSON: itself when finite, else null (NaN) or "Infinity"/"-Infinity"."""
    if math.isnan(value):
        return None
    return ("Infinity" if value > 0 else "-Infinity") if math.isinf(value) else value


def _array_values(array: np.ndarray) -> Any:
    """The nested lists of ``array`` (its number when 0-d): non-finite floats as :func:`_float` writes them,
    float32/float16 values in their shortest form that reads back to the same value."""
    if array.dtype.kind != "f" or array.dtype.itemsize > 8:
        return array.tolist()
    finite = np.isfinite(array)
    values = array.astype(np.float64)
    if array.dtype.itemsize < 8 and array.size:
        short = array.astype(str).astype(np.float64)   # numpy's shortest repr of each float32 / float16
        if np.array_equal(short.astype(array.dtype), array, equal_nan=True):
            values = short
    if finite.all():
        return values.tolist()
    values = values.astype(object)
    values[np.isnan(array)] = None
    values[np.isposinf(array)] = "Infinity"
    values[np.isneginf(array)] = "-Infinity"
    return values.tolist()


def _encode(value: Any, specs: dict[str, Any] | None = None, at: str = "") -> Any:
    """``value`` as plain JSON; the JSON Pointer ``at`` of each array, tensor and non-finite float goes into
    ``specs`` with what reads it back (see the module doc)."""
    specs = {} if specs is None else specs
    tensor = hasattr(value, "detach") and hasattr(value, "cpu")   # torch.Tensor
    if tensor:
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        specs[at] = {"dtype": str(value.dtype), "shape": list(value.shape), **({"tensor": True} if tensor else {})}
        if value.dtype == object and value.ndim:   # Python objects: each written as itself
            return [_encode(v, specs, _pointer(at, i)) for i, v in enumerate(value.tolist())]
        return _array_values(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        specs[at] = {"dtype": "float"}
        return _float(value)
    if isinstance(value, Result):
        return {"__result__": value.result_type, **{f.name: _encode(getattr(value, f.name), specs, _pointer(at, f.name))
                                                  for f in dataclasses.fields(value)}}  # type: ignore[arg-type]
    if isinstance(value, dict):
        return {str(k): _encode(v, specs, _pointer(at, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, specs, _pointer(at, i)) for i, v in enumerate(value)]
    return value


# --------------------------------------------------------------------------- reading
def _number(value: Any) -> Any:
    """A JSON float as :func:`_float` wrote it, back as a float."""
    if value is None:
        return math.nan
    return _NON_FINITE[value] if isinstance(value, str) and value in _NON_FINITE else float(value)


def _from_spec(value: Any, spec: dict[str, Any]) -> Any:
    """The array, tensor or float that ``spec`` (a ``dtypes`` entry) says ``value`` was written from."""
    kind = spec.get("dtype")
    if kind == "float" and "shape" not in spec:
        return _number(value)
    # null reads as NaN and "Infinity" as inf in a float dtype
    array = np.asarray(value, dtype=np.dtype(kind)).reshape(spec["shape"])
    if spec.get("tensor"):
        return torch.from_numpy(array)
    return array


def _restore(value: Any, trie: dict[Any, Any], at: str) -> Any:
    """``value`` (a JSON tree, left unchanged) with the values at the pointers of ``trie`` read back."""
    children = {k: v for k, v in trie.items() if k is not _LEAF}
    if children:
        if isinstance(value, dict):
            missing = [k for k in children if k not in value]
            value = {k: _restore(v, children[k], _pointer(at, k)) if k in children else v for k, v in value.items()}
        elif isinstance(value, list):
            missing = [k for k in children if not (k.isdigit() and int(k) < len(value))]
            value = [_restore(v, children[str(i)], _pointer(at, i)) if str(i) in children else v
                     for i, v in enumerate(value)]
        else:
            missing = list(children)
        if missing:
            raise ValueError(f"dtypes names {_pointer(at, missing[0])}, which the file does not hold")
    return _from_spec(value, trie[_LEAF]) if _LEAF in trie else value


def _read_arrays(data: dict[str, Any]) -> dict[str, Any]:
    """A result file's top-level dict with the values its ``dtypes`` lists read back (arrays, tensors, floats),
    ``schema`` and ``dtypes`` left out; a dict without ``schema`` (the first layout) as it is."""
    if "schema" not in data:
        return data
    schema = data["schema"]
    version = schema[len(_SCHEMA_PREFIX):] if isinstance(schema, str) and schema.startswith(_SCHEMA_PREFIX) else ""
    if not version.isdigit():
        raise ValueError(f"not a mimi result file (schema {schema!r}, expected {SCHEMA!r})")
    if int(version) > _SCHEMA_VERSION:
        raise ValueError(f"the file's schema {schema!r} is newer than this mimi reads ({SCHEMA!r}); update mimi")
    trie: dict[Any, Any] = {}
    for pointer, spec in (data.get("dtypes") or {}).items():
        if pointer and not pointer.startswith("/"):
            raise ValueError(f"dtypes key {pointer!r} is not a JSON Pointer")
        node = trie
        for token in pointer.split("/")[1:] if pointer else []:
            node = node.setdefault(token.replace("~1", "/").replace("~0", "~"), {})
        node[_LEAF] = spec
    fields = {k: v for k, v in data.items() if k not in _RESERVED}
    return _restore(fields, trie, "")


def _decode(value: Any) -> Any:
    """A JSON value of either layout as the field held it (a plain list stays a list: the arrays of the
    second layout are read by :func:`_read_arrays` first)."""
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
        """The JSON document of this result (module doc): ``schema``, ``__result__``, the fields as plain JSON
        values, and ``dtypes``."""
        taken = [name for name in _RESERVED if name in {f.name for f in dataclasses.fields(self)}]  # type: ignore[arg-type]
        if taken:
            raise TypeError(f"{type(self).__name__} has a field named {taken[0]!r}, a key result files reserve")
        specs: dict[str, Any] = {}
        tree = _encode(self, specs)
        return {"schema": SCHEMA, **tree, "dtypes": specs}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Result":
        """The result of a document of either layout (or of a nested record's dict, values already read)."""
        data = _read_arrays(data)
        kind = data.get("__result__")
        if kind not in _REGISTRY:
            for module in _RESULT_MODULES:
                importlib.import_module(module)
        if kind not in _REGISTRY:
            raise ValueError(f"unknown result type {kind!r}; known: {sorted(_REGISTRY)}")
        cls = _REGISTRY[kind]
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: _decode(v) for k, v in data.items() if k in names})

    def to_json(self, path: str | Path | None = None) -> str:
        """The result as JSON text (strict JSON: no NaN literals), written to ``path`` when given."""
        text = json.dumps(self.to_dict(), allow_nan=False)
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
