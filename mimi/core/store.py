"""The shipped store of precomputed dashboard results (``assets/precomputed``, filled by ``mimi precompute``).

One gzip JSON file per result, named by the compute gate's content key (:func:`mimi.ui.gate.content_key`), in a
folder of the key's first two hex digits. :func:`mimi.ui.compute.compute` looks here after the in-memory cache
and before computing; with ``MIMI_PRECOMPUTE_RECORD=1`` it also writes every result it computes here. Results
go through :class:`mimi.core.results.Result`'s dict form, arrays as base64 of their bytes: tensors exactly (an
adversarial image keys the computations that use it), float64 numpy arrays rounded to float32 (7 significant
digits, half the bytes), every other array exactly; a result that does not read back so is not stored. A
missing file is a miss; an unreadable one is logged and is a miss too (the page computes, as without a store).
No Streamlit here."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mimi.core.results import Result

LOG = logging.getLogger("mimi.store")
STORE_DIR = Path(__file__).resolve().parents[2] / "assets" / "precomputed"
DIR_ENV = "MIMI_PRECOMPUTED_DIR"
RECORD_ENV = "MIMI_PRECOMPUTE_RECORD"
FORMAT = 1
MISSING = object()
#: What this process read from and wrote to the store (``mimi precompute`` reports them per page run).
counts = {"hits": 0, "saved": 0, "refused": 0}


class NotStorable(TypeError):
    """A value the store cannot hold exactly (a type without an exact JSON round trip)."""


def store_dir() -> Path:
    """``MIMI_PRECOMPUTED_DIR`` if set (tests, ``mimi precompute --out``), else the shipped ``assets/precomputed``."""
    return Path(os.environ.get(DIR_ENV) or STORE_DIR)


def recording() -> bool:
    """Whether computed results are written to the store (``MIMI_PRECOMPUTE_RECORD=1``)."""
    return os.environ.get(RECORD_ENV, "") not in ("", "0")


def path_of(key: str, folder: Path | None = None) -> Path:
    return (folder or store_dir()) / key[:2] / f"{key}.json.gz"


# --------------------------------------------------------------------------- encoding
def _array(value: np.ndarray, exact: bool) -> dict[str, Any]:
    """An array as base64 of its little-endian bytes; float64 ones as float32 unless ``exact``."""
    array = np.ascontiguousarray(value)
    node = {"dtype": array.dtype.str.lstrip("<>|="), "shape": list(array.shape)}
    if not exact and array.dtype == np.float64:
        rounded = array.astype(np.float32)
        if np.array_equal(np.isfinite(rounded), np.isfinite(array)):   # nothing beyond float32's range
            array, node["stored"] = rounded, "float32"
    node["__b64__"] = base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode("ascii")
    return node


def _pack(value: Any) -> Any:
    """A JSON tree of ``value``: results by their dict form, arrays and tensors as bytes, tuples marked."""
    if isinstance(value, torch.Tensor):   # exact: an adversarial image keys the computations that use it
        return {"__tensor__": _array(value.detach().cpu().numpy(), exact=True)}
    if isinstance(value, np.ndarray):
        return _array(value, exact=False)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Result):
        return {"__result__": value.result_type,
                **{f.name: _pack(getattr(value, f.name)) for f in dataclasses.fields(value)}}  # type: ignore[arg-type]
    if isinstance(value, tuple):
        return {"__tuple__": [_pack(item) for item in value]}
    if isinstance(value, list):
        return [_pack(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise NotStorable("a dict with keys other than strings")
        return {"__dict__": {k: _pack(v) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise NotStorable(f"a {type(value).__name__}")


def _unpack(tree: Any) -> Any:
    if isinstance(tree, list):
        return [_unpack(item) for item in tree]
    if not isinstance(tree, dict):
        return tree
    if "__b64__" in tree:
        stored = np.dtype(tree.get("stored", tree["dtype"])).newbyteorder("<")
        array = np.frombuffer(base64.b64decode(tree["__b64__"]), dtype=stored)
        return array.astype(np.dtype(tree["dtype"]), copy=True).reshape(tree["shape"])
    if "__tensor__" in tree:
        return torch.from_numpy(_unpack(tree["__tensor__"]))
    if "__tuple__" in tree:
        return tuple(_unpack(item) for item in tree["__tuple__"])
    if "__dict__" in tree:
        return {k: _unpack(v) for k, v in tree["__dict__"].items()}
    if "__result__" in tree:
        fields = {k: _unpack(v) for k, v in tree.items() if k != "__result__"}
        return Result.from_dict({"__result__": tree["__result__"], **fields})
    raise ValueError(f"unknown node with keys {sorted(tree)[:5]}")


def same(a: Any, b: Any) -> bool:
    """Whether ``b`` is ``a`` read back: the same types throughout, arrays and tensors of the same dtype, shape
    and values (NaN equal to NaN; float64 numpy arrays at float32 precision), equal numbers and texts."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return same(a.detach().cpu().numpy(), b.detach().cpu().numpy())
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == np.float64:
            a, b = a.astype(np.float32), b.astype(np.float32)
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, Result):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))  # type: ignore[arg-type]
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def encode(key: str, label: str, value: Any) -> bytes:
    """The gzip JSON file of ``value`` under ``key``; :class:`NotStorable` unless it reads back exactly."""
    document = {"format": FORMAT, "key": key, "label": label, "value": _pack(value)}
    text = json.dumps(document, separators=(",", ":"), allow_nan=True)
    if not same(value, _unpack(json.loads(text)["value"])):
        raise NotStorable(f"a {type(value).__name__} that does not read back exactly")
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def decode(key: str, data: bytes) -> Any:
    """The value of a store file; ValueError when it is not the file of ``key``."""
    document = json.loads(gzip.decompress(data))
    if document.get("format") != FORMAT or document.get("key") != key:
        raise ValueError(f"not a store file of format {FORMAT} for this key")
    return _unpack(document["value"])


# --------------------------------------------------------------------------- lookup and record
_reported: set[tuple[str, int, int]] = set()


def load(key: str) -> Any:
    """The stored result under ``key``, else :data:`MISSING` (no file, or an unreadable one: logged once)."""
    path = path_of(key)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return MISSING
    except OSError as exc:
        LOG.warning("precomputed result %s unreadable (%s); computing it instead", path, exc)
        return MISSING
    try:
        value = decode(key, data)
    except Exception as exc:  # a corrupt file must never break a page: compute instead
        version = (str(path), len(data), hash(data))
        if version not in _reported:    # once per file version, however often a page looks it up
            _reported.add(version)
            LOG.warning("precomputed result %s is corrupt (%s: %s); computing it instead", path,
                        type(exc).__name__, str(exc)[:200])
        return MISSING
    counts["hits"] += 1
    return value


def save(key: str, label: str, value: Any) -> bool:
    """Write ``value`` under ``key`` (atomically); False, logged, when it has no exact round trip or cannot be
    written."""
    try:
        data = encode(key, label, value)
    except (NotStorable, TypeError, ValueError) as exc:
        counts["refused"] += 1
        LOG.warning("not stored: %s is %s", label, exc)
        return False
    path = path_of(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError as exc:
        counts["refused"] += 1
        LOG.warning("not stored: %s could not be written to %s (%s)", label, path, exc)
        return False
    counts["saved"] += 1
    return True
