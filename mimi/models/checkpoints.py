"""Weights files read safely: format detected from the content, foreign layouts mapped, nothing executed.

Formats (:data:`FORMATS`), detected from the bytes, never from the file name:

- ``state-dict``: a PyTorch file (zip or legacy pickle) holding a dict of tensors, read with
  ``torch.load(weights_only=True)``, whose restricted unpickler refuses any global that is not a tensor
  or container type: a pickle that needs code (a ``__reduce__`` payload) raises before anything runs,
  and the message says why and how to convert the file;
- ``safetensors``: tensors and a string metadata table, no code at all;
- ``madry``: the ``robustness`` library's checkpoint, ``{'model': {'module.model.*', 'module.normalizer.*',
  'module.attacker.*'}}`` (older ones: ``{'state_dict': …}``); the ``module.model.*`` weights and the
  normalizer's ``new_mean``/``new_std`` (shape (C, 1, 1)) are kept, the attacker's copy dropped;
- ``robustbench``: a ``state_dict`` or a raw dict whose keys carry ``module.`` or ``model.`` prefixes,
  with the ``normalize.mean``/``normalize.std`` buffers of RobustBench's ImageNet wrapper when present;
- ``torchscript``: a TorchScript archive, loaded only with ``trust_code=True`` (its code runs).

Checks before reading: the file exists, is not empty, and is at most ``max_bytes`` (default
:data:`MAX_WEIGHTS_BYTES`, 1 GiB); then truncated or corrupted files, and weights that do not fit the
architecture (the message names the first few missing, unexpected and mis-shaped keys), are
:class:`WeightsError`, a ValueError. :func:`load_classifier` builds the architecture of
:mod:`mimi.models.architectures`, loads the weights and returns it frozen, with inputs in [0, 1] and the
normalization inside (mean/std given > from the checkpoint > the input space's).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from mimi.core.compute import freeze
from mimi.data.input_spaces import InputSpace, check_normalization
from mimi.models.architectures import NormalizedNetwork, build_network, normalizes_itself

MAX_WEIGHTS_BYTES = 1 << 30
FORMATS = {
    "state-dict": "PyTorch state dict (torch.load with weights_only=True)",
    "safetensors": "safetensors",
    "madry": "Madry robustness checkpoint (torch.load with weights_only=True)",
    "robustbench": "RobustBench checkpoint (torch.load with weights_only=True)",
    "torchscript": "TorchScript archive (its code was trusted and run)",
}
SHOWN_KEYS = 4
_NORMALIZER = re.compile(r"^(?P<prefix>.*?)(?:normalizer\.new_|normalize\.)(?P<stat>mean|std)$")
_ATTACKER = re.compile(r"^(module\.)?attacker\.")
_CONTAINERS = ("model", "state_dict", "model_state_dict")
_SUFFIX = "num_batches_tracked"


class WeightsError(ValueError):
    """A weights file that cannot be used; the message names the file and what to do."""


@dataclass
class Checkpoint:
    """The weights of a file in plain layout (prefixes stripped, normalizer and attacker removed).

    ``module`` is set instead of ``weights`` for a trusted TorchScript archive."""

    path: Path
    format: str
    sha256: str
    size: int
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    mean: Optional[tuple[float, ...]] = None
    std: Optional[tuple[float, ...]] = None
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    module: Optional[nn.Module] = None

    def describe(self) -> str:
        return "; ".join([FORMATS[self.format], *self.notes])


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _size_text(size: int) -> str:
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size} bytes"


def check_file(path: str | Path, max_bytes: int = MAX_WEIGHTS_BYTES) -> tuple[Path, int]:
    """The path and its size, after the checks that need no reading: exists, regular, not empty, not too big."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights file {path} does not exist")
    if not path.is_file():
        raise WeightsError(f"weights file {path} is not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise WeightsError(f"weights file {path} is empty (0 bytes)")
    if size > max_bytes:
        raise WeightsError(f"weights file {path} is {_size_text(size)}, above the bound of {_size_text(max_bytes)}; "
                           f"it was not read. Raise the bound (--max-size GIB) if the file is what you expect")
    return path, size


def sniff(path: Path, size: int) -> str:
    """The container from the first bytes: ``zip`` (PyTorch or TorchScript), ``pickle`` (legacy PyTorch, or
    any pickle: read only by the restricted unpickler),
    ``safetensors`` (u64 little-endian header length, then a JSON object), else WeightsError."""
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if len(head) == 9 and head[8:9] == b"{":
        (header,) = struct.unpack("<Q", head[:8])
        if header + 8 > size:
            raise WeightsError(f"weights file {path} is a truncated safetensors file (header of {header} bytes, "
                               f"file of {size})")
        return "safetensors"
    if head[:1] == b"\x80" or head[:1] in (b"c", b"(", b"}", b"]"):   # PROTO (2+), or protocol 0/1 openings
        return "pickle"
    raise WeightsError(f"weights file {path} is not a format mimi reads (PyTorch .pt/.pth, safetensors, "
                       f"TorchScript): its first bytes are {head[:8]!r}")


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"weights file {path} is truncated or corrupted (a damaged zip archive: {exc})") from exc
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _needs_code(path: Path, exc: Exception) -> WeightsError:
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
    what = (f"it references {found.group(1)}" if found else
            f"the safe reader stopped at: {detail.group(1).strip()[:120]}" if detail else str(exc).splitlines()[0][:120])
    return WeightsError(
        f"weights file {path} is a pickle that needs code to load, or is not a PyTorch weights file ({what}). "
        f"mimi reads weights with "
        f"torch.load(weights_only=True) and never runs code from a file, so it was refused before anything ran. "
        f"If you trust its author, convert it once in a separate Python session: "
        f"sd = torch.load('{path.name}', weights_only=False); keep the dict of tensors (often sd['state_dict'] or "
        f"sd['model']); then safetensors.torch.save_file(that_dict, 'weights.safetensors') and register that file")


def _read_torch(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # "pickle protocol 4": the refusal below says more
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc).lower() or "unsupported" in str(exc).lower() or "global" in str(exc).lower():
            raise _needs_code(path, exc) from None
        raise WeightsError(f"weights file {path} is truncated or corrupted ({str(exc).splitlines()[0][:160]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, struct.error) as exc:
        raise WeightsError(f"weights file {path} is truncated or corrupted "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {key: f.get_tensor(key) for key in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"weights file {path} is a truncated or corrupted safetensors file ({exc})") from None


def _tensor_dict(payload: Any, path: Path) -> tuple[dict[str, torch.Tensor], Optional[str]]:
    """The dict of tensors in a loaded payload and the container key it was under (None: top level)."""
    if isinstance(payload, dict):
        for key in _CONTAINERS:
            inner = payload.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner), key
        tensors = {k: v for k, v in payload.items() if isinstance(v, torch.Tensor)}
        if tensors and len(tensors) == len(payload):
            return tensors, None
    raise WeightsError(f"weights file {path} holds no dict of tensors (top level: {type(payload).__name__}"
                       + (f" with keys {', '.join(map(str, list(payload)[:SHOWN_KEYS]))}" if isinstance(payload, dict)
                          else "") + "); save the model's state_dict()")


def _split_normalizer(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, tuple], list[str]]:
    """Remove the attacker's copy and the normalizer's mean/std (kept only when both are there); return the
    rest, the statistics (``mean``, ``std``, and ``madry``: whether they were Madry's ``new_mean``/``new_std``)
    and notes."""
    notes, stats, rest, keys = [], {}, {}, []
    attacker = [k for k in tensors if _ATTACKER.match(k)]
    if attacker:
        notes.append(f"dropped the attacker's copy of the model ({len(attacker)} tensors)")
    for key, value in tensors.items():
        if _ATTACKER.match(key):
            continue
        found = _NORMALIZER.match(key)
        if found and value.numel() <= 4:
            # the shortest decimals of the float32 values: 0.4, not 0.4000000059604645 (same float32 inside)
            stats[found.group("stat")] = tuple(float(str(v)) for v in value.float().flatten().numpy())
            keys.append(key)
        else:
            rest[key] = value
    if "mean" not in stats or "std" not in stats:
        return tensors if not attacker else {k: v for k, v in tensors.items() if not _ATTACKER.match(k)}, {}, notes
    notes.append(f"normalization mean/std read from {' and '.join(keys)}")
    stats["madry"] = any("normalizer.new_" in k for k in keys)
    return rest, stats, notes


def _dotted_prefixes(keys: Sequence[str]) -> list[str]:
    """'' and every dotted prefix ('a.', 'a.b.') that all keys share."""
    prefixes, first = [""], keys[0].split(".")[:-1]
    for depth in range(1, len(first) + 1):
        prefix = ".".join(first[:depth]) + "."
        if all(k.startswith(prefix) for k in keys):
            prefixes.append(prefix)
    return prefixes


def strip_prefix(tensors: dict[str, torch.Tensor], expected: Optional[set[str]]) -> tuple[dict[str, torch.Tensor], str]:
    """Drop the shared key prefix (``module.``, ``model.``, ``module.model.``, …) under which most keys
    match ``expected`` (None: the longest ``module.``/``model.`` chain)."""
    if not tensors:
        return tensors, ""
    prefixes = _dotted_prefixes(list(tensors))
    if expected is None:
        chain = [p for p in prefixes if re.fullmatch(r"((module|model)\.)*", p)]
        best = chain[-1]
    else:
        best = max(prefixes, key=lambda p: (sum(k[len(p):] in expected for k in tensors), -len(p)))
    return {k[len(best):]: v for k, v in tensors.items()}, best


def read_checkpoint(path: str | Path, expected: Optional[set[str]] = None, *, trust_code: bool = False,
                    max_bytes: int = MAX_WEIGHTS_BYTES, sha256: Optional[str] = None) -> Checkpoint:
    """Read a weights file safely and map it to plain keys (matched against ``expected`` when given).
    With ``sha256``, a file whose hash differs is refused before its content is parsed."""
    path, size = check_file(path, max_bytes)
    container = sniff(path, size)
    digest = sha256_file(path)
    if sha256 is not None and digest != sha256:
        raise WeightsError(f"weights file {path} changed since it was registered (sha256 {digest[:12]}…, "
                           f"registered {sha256[:12]}…); it was not loaded. Register it again (--replace) if the "
                           f"change is intended")
    if container == "zip" and _is_torchscript(path):
        if not trust_code:
            raise WeightsError(
                f"weights file {path} is a TorchScript archive: loading it runs code stored in the file. mimi loads it "
                f"only when told to trust it (`mimi models add … --trust-code`; the dashboard never does). Otherwise "
                f"export its weights: torch.jit.load(FILE).state_dict() saved with safetensors.torch.save_file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)   # "torch.jit.load is deprecated"
                module = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, OSError, ValueError) as exc:
            raise WeightsError(f"weights file {path} is a damaged TorchScript archive "
                               f"({str(exc).splitlines()[0][:160]})") from None
        return Checkpoint(path, "torchscript", digest, size, module=module)
    metadata: dict[str, str] = {}
    if container == "safetensors":
        tensors, metadata = _read_safetensors(path)
        where = None
    else:
        tensors, where = _tensor_dict(_read_torch(path), path)
    tensors, stats, notes = _split_normalizer(tensors)
    if not stats and "mimi.mean" in metadata and "mimi.std" in metadata:
        stats = {"mean": tuple(json.loads(metadata["mimi.mean"])), "std": tuple(json.loads(metadata["mimi.std"]))}
        notes.append("normalization mean/std read from the file's metadata")
    tensors, prefix = strip_prefix(tensors, expected)
    if where is not None:
        notes.insert(0, f"weights under {where!r}")
    if prefix:
        notes.append(f"key prefix {prefix!r} removed")
    if container == "safetensors":
        fmt = "safetensors"
    elif prefix.startswith("module.model.") or stats.get("madry"):
        fmt = "madry"
    elif re.fullmatch(r"((module|model)\.)+", prefix):
        fmt = "robustbench"
    else:
        fmt = "state-dict"
    return Checkpoint(path, fmt, digest, size, tensors, stats.get("mean"), stats.get("std"), notes, metadata)


def _listed(items: list[str]) -> str:
    more = f" (+{len(items) - SHOWN_KEYS} more)" if len(items) > SHOWN_KEYS else ""
    return ", ".join(items[:SHOWN_KEYS]) + more


def check_keys(weights: dict[str, torch.Tensor], network: nn.Module, what: str, path: Path) -> None:
    """WeightsError naming the first missing, unexpected and mis-shaped keys, if the weights do not fit
    ``network`` (its ``normalize.*`` buffers excluded; BatchNorm's ``num_batches_tracked`` may be absent)."""
    expected = {k: v for k, v in network.state_dict().items() if not k.startswith("normalize.")}
    missing = [k for k in expected if k not in weights and not k.endswith(_SUFFIX)]
    unexpected = [k for k in weights if k not in expected]
    misshaped = [f"{k} is {'x'.join(map(str, weights[k].shape)) or 'a scalar'} in the file, "
                 f"{'x'.join(map(str, expected[k].shape)) or 'a scalar'} expected"
                 for k in expected if k in weights and weights[k].shape != expected[k].shape]
    problems = [f"missing keys: {_listed(missing)}" if missing else "",
                f"unexpected keys: {_listed(unexpected)}" if unexpected else "",
                f"mis-shaped: {_listed(misshaped)}" if misshaped else ""]
    if any(problems):
        raise WeightsError(f"weights file {path} does not fit the expected architecture {what}: "
                           + "; ".join(p for p in problems if p))


@dataclass
class LoadedClassifier:
    """A frozen classifier (inputs in [0, 1], normalization inside) and where its pieces came from."""

    model: nn.Module
    checkpoint: Checkpoint
    mean: tuple[float, ...]
    std: tuple[float, ...]
    normalization: str      # given, checkpoint or space (the input space's)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_classifier(path: str | Path, architecture: str, space: InputSpace, num_classes: Optional[int] = None,
                    *, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                    trust_code: bool = False, max_bytes: int = MAX_WEIGHTS_BYTES,
                    sha256: Optional[str] = None) -> LoadedClassifier:
    """Architecture ``architecture`` with the weights of ``path``, frozen, on the CPU (refused unread when
    ``sha256`` is given and differs).

    ``num_classes`` defaults to the input space's. Normalization: ``mean``/``std`` when given, else the
    checkpoint's, else the input space's; applied inside the returned model. A TorchScript archive
    (``trust_code=True`` only) is wrapped as it is: ``architecture`` must be ``torchscript``."""
    num_classes = int(num_classes or len(space.classes))
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    if architecture == "torchscript":
        checkpoint = read_checkpoint(path, trust_code=trust_code, max_bytes=max_bytes, sha256=sha256)
        if checkpoint.module is None:
            raise WeightsError(f"architecture torchscript asked for, but {checkpoint.path} is a "
                               f"{FORMATS[checkpoint.format]}; name its architecture instead")
        network = checkpoint.module
        normalization = "given" if mean is not None else "profile"
        mean, std = tuple(mean or space.mean), tuple(std or space.std)
    else:
        what = (f"{architecture} ({num_classes} classes, input {space.channels}x{space.size}x{space.size}, "
                f"input space {space.name})")
        probe = build_network(architecture, num_classes, space.channels, space.size, space.mean, space.std)
        expected = {k for k in probe.state_dict() if not k.startswith("normalize.")}
        checkpoint = read_checkpoint(path, expected, trust_code=trust_code, max_bytes=max_bytes, sha256=sha256)
        if checkpoint.module is not None:
            raise WeightsError(f"{checkpoint.path} is a TorchScript archive; register it with --arch torchscript")
        check_keys(checkpoint.weights, probe, what, checkpoint.path)
        if mean is not None:
            normalization = "given"
        elif checkpoint.mean is not None:
            normalization, mean, std = "checkpoint", checkpoint.mean, checkpoint.std
        else:
            normalization, mean, std = "profile", space.mean, space.std
        mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        check_normalization(mean, std, space.channels)
        network = build_network(architecture, num_classes, space.channels, space.size, mean, std) \
            if normalizes_itself(architecture) else probe
        network.load_state_dict(checkpoint.weights, strict=False)
    check_normalization(mean, std, space.channels)
    model = network if normalizes_itself(architecture) else NormalizedNetwork(network, mean, std)
    return LoadedClassifier(freeze(model), checkpoint, tuple(mean), tuple(std), normalization)


def convert(path: str | Path, out: str | Path, architecture: str, space: InputSpace,
            num_classes: Optional[int] = None, *, mean: Optional[Sequence[float]] = None,
            std: Optional[Sequence[float]] = None, max_bytes: int = MAX_WEIGHTS_BYTES) -> LoadedClassifier:
    """Write the weights of ``path`` as plain-layout safetensors at ``out``, after checking that they fit
    ``architecture``; the normalization and the source go into the file's metadata (``mimi.mean``,
    ``mimi.std``, ``mimi.architecture``, ``mimi.source_sha256``)."""
    loaded = load_classifier(path, architecture, space, num_classes, mean=mean, std=std, max_bytes=max_bytes)
    weights = {k: v.detach().clone().contiguous() for k, v in loaded.checkpoint.weights.items()}
    metadata = {"mimi.mean": json.dumps(loaded.mean), "mimi.std": json.dumps(loaded.std),
                "mimi.architecture": architecture, "mimi.profile": space.name,
                "mimi.source_sha256": loaded.checkpoint.sha256}
    out = Path(out)
    save_file(weights, str(out), metadata=metadata)
    return loaded
