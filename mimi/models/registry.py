"""The model registry: the user's own models, in one TOML file that the zoo's functions also read.

The file is ``models.toml`` in the mimi home folder: ``$MIMI_HOME`` if set, else ``~/.mimi``. Each
model is a table ``[models.NAME]`` with ``architecture`` (:mod:`mimi.models.architectures`), ``dataset`` (a
input space of :mod:`mimi.data.input_spaces`), ``weights`` (an absolute path; the file stays where it is), and what
``add`` measured: ``format``, ``sha256``, ``size``, ``parameters``, ``mean``/``std`` with their source
(``normalization``), optionally ``classes`` (names from a file), ``description``, ``trust_code``,
``max_bytes``, and ``[models.NAME.evaluation]`` (accuracies written by ``mimi evaluate --update-card``).
The file may be edited by hand; mimi rewrites it whole on ``add``, ``remove`` and card updates
(comments are not kept).

:func:`mimi.models.zoo.names`, :func:`mimi.models.zoo.card` and :func:`mimi.models.zoo.load` see these models next to the
shipped ones; a registry file that does not parse gives :class:`RegistryError` with the line here, and
the zoo keeps working without it (:func:`problem` says what is wrong).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Optional, Sequence

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10: the same parser as the tomli package
    import tomli as tomllib

import torch
from torch import nn

from mimi.data.input_spaces import InputSpace, input_space, read_classes
from mimi.models.cards import shipped_names
from mimi.models.checkpoints import MAX_WEIGHTS_BYTES, LoadedClassifier, WeightsError, load_classifier

HOME_ENV = "MIMI_HOME"
REGISTRY_FILE = "models.toml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")   # \Z: "$" also matches before a final newline
REQUIRED = {"architecture": str, "dataset": str, "weights": str}
OPTIONAL = {"format": str, "sha256": str, "size": int, "parameters": int, "mean": list, "std": list,
            "normalization": str, "classes": list, "description": str, "trust_code": bool, "max_bytes": int,
            "added": str, "evaluation": dict}
HEADER = ("# mimi's model registry: one [models.NAME] table per model (see `mimi models --help`).\n"
          "# You may edit it by hand; `mimi models add/remove` and `mimi evaluate --update-card` rewrite it\n"
          "# whole, without comments. `mimi models check NAME` loads a model and runs it once.\n")


class RegistryError(ValueError):
    """The registry file or one of its entries is unusable; the message names the file, line or key."""


def home() -> Path:
    """The mimi home folder: ``$MIMI_HOME``, else ``~/.mimi``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".mimi").expanduser()


def registry_file() -> Path:
    return home() / REGISTRY_FILE


def _check_entry(name: str, entry: Any, path: Path) -> dict[str, Any]:
    where = f"{path}: model {name!r}"
    if not NAME_PATTERN.match(name):
        raise RegistryError(f"{where}: a name is 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    if not isinstance(entry, dict):
        raise RegistryError(f"{where} must be a table [models.{name}]")
    for key, kind in REQUIRED.items():
        if not isinstance(entry.get(key), kind):
            raise RegistryError(f"{where} needs {key} = \"...\" (a string)")
    for key, value in entry.items():
        kind = OPTIONAL.get(key, REQUIRED.get(key))
        if kind is None:
            raise RegistryError(f"{where}: unknown key {key!r}; known: {', '.join([*REQUIRED, *OPTIONAL])}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RegistryError(f"{where}: {key} must be a {kind.__name__}, got {value!r}")
    try:
        input_space(entry["dataset"])
    except ValueError as exc:
        raise RegistryError(f"{where}: {exc}") from None
    return entry


def read_entries(path: Optional[Path] = None) -> dict[str, dict[str, Any]]:
    """The registered models by name ({} when there is no registry file); RegistryError when it is broken."""
    path = Path(path or registry_file())
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read the model registry {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"the model registry {path} has a TOML syntax error: {exc}. Fix the file or move it "
                            f"away; the shipped zoo works meanwhile") from None
    models = data.get("models", {})
    unknown = [key for key in data if key != "models"]
    if unknown or not isinstance(models, dict):
        raise RegistryError(f"the model registry {path} must hold only [models.NAME] tables; found {unknown or 'models'}")
    return {name: _check_entry(name, entry, path) for name, entry in models.items()}


def names() -> list[str]:
    """Registered model names in file order ([] when the registry is broken: see :func:`problem`)."""
    try:
        return list(read_entries())
    except RegistryError:
        return []


def problem() -> Optional[str]:
    """What is wrong with the registry file, or None."""
    try:
        read_entries()
    except RegistryError as exc:
        return str(exc)
    return None


def entry(name: str) -> dict[str, Any]:
    entries = read_entries()
    if name not in entries:
        raise RegistryError(f"no registered model {name!r}; registered: {', '.join(entries) or '(none)'}")
    return entries[name]


def _profile_and_classes(item: dict[str, Any]) -> tuple[InputSpace, tuple[str, ...]]:
    space = input_space(item["dataset"])
    return space, tuple(item.get("classes") or space.classes)


def card(name: str) -> dict[str, Any]:
    """The model card of a registered model, with the keys of the zoo's cards plus where it came from."""
    item = entry(name)
    space, classes = _profile_and_classes(item)
    result = {
        "name": name,
        "description": item.get("description") or f"registered {item['architecture']} ({space.title})",
        "architecture": item["architecture"], "dataset": space.name, "classes": list(classes),
        "input": {"shape": list(space.shape), "range": [0.0, 1.0], "normalization": "inside the model",
                  "mean": item.get("mean"), "std": item.get("std"), "source": item.get("normalization")},
        "format": item.get("format"), "source": item["weights"], "sha256": item.get("sha256"),
        "size": item.get("size"), "parameters": item.get("parameters"), "registered": str(registry_file()),
        "added": item.get("added"), "trust_code": bool(item.get("trust_code", False)),
    }
    if item.get("evaluation"):
        result["evaluation"] = item["evaluation"]
    return result


def _load_entry(item: dict[str, Any]) -> LoadedClassifier:
    """The entry's model; a file whose hash differs from the recorded one is refused before it is parsed
    (so a replaced TorchScript archive never runs)."""
    space, classes = _profile_and_classes(item)
    return load_classifier(item["weights"], item["architecture"], space, len(classes), mean=item.get("mean"),
                           std=item.get("std"), trust_code=bool(item.get("trust_code", False)),
                           max_bytes=int(item.get("max_bytes", MAX_WEIGHTS_BYTES)), sha256=item.get("sha256"))


def load(name: str, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A registered model, frozen, on ``device``, and its card; WeightsError when its file changed since
    it was registered (the hash differs) or no longer loads."""
    loaded = _load_entry(entry(name))
    return loaded.model.to(device), card(name)


def add(name: str, weights: str | Path, architecture: str, dataset: str, *, mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None, classes_file: Optional[str | Path] = None, note: str = "",
        trust_code: bool = False, max_bytes: int = MAX_WEIGHTS_BYTES,
        replace: bool = False) -> tuple[dict[str, Any], LoadedClassifier]:
    """Load and check ``weights`` as ``architecture`` for input space ``dataset``, then record it as ``name``.

    Nothing is written unless the model loads: the file is read safely, matched to the architecture and
    run once on a blank input of the input space's shape."""
    if not NAME_PATTERN.match(name):
        raise RegistryError(f"model name {name!r}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit")
    if name in shipped_names():
        raise RegistryError(f"model name {name!r} is a model of the shipped zoo; choose another name")
    entries = read_entries()
    if name in entries and not replace:
        raise RegistryError(f"model {name!r} is already registered (weights {entries[name]['weights']}); "
                            f"pass --replace to register it again or `mimi models remove {name}` first")
    item: dict[str, Any] = {"architecture": architecture, "dataset": dataset,
                            "weights": str(Path(weights).expanduser().resolve())}
    input_space(dataset)
    if classes_file is not None:
        item["classes"] = list(read_classes(classes_file))
    if mean is not None or std is not None:
        item["mean"], item["std"] = [float(v) for v in mean or ()], [float(v) for v in std or ()]
    if trust_code:
        item["trust_code"] = True
    if max_bytes != MAX_WEIGHTS_BYTES:
        item["max_bytes"] = int(max_bytes)
    loaded = _load_entry(item)
    space = input_space(dataset)
    with torch.inference_mode():
        logits = loaded.model(torch.zeros((1, *space.shape)))
    classes = len(item.get("classes") or space.classes)
    if logits.shape != (1, classes):
        raise WeightsError(f"model {name!r} returns logits of shape {tuple(logits.shape)} for one "
                           f"{'x'.join(map(str, space.shape))} image; {classes} classes expected")
    item.update(format=loaded.checkpoint.format, sha256=loaded.checkpoint.sha256, size=loaded.checkpoint.size,
                parameters=loaded.parameters, mean=list(loaded.mean), std=list(loaded.std),
                normalization=loaded.normalization,
                added=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    if note:
        item["description"] = note
    entries[name] = item
    write_entries(entries)
    return card(name), loaded


def remove(name: str) -> dict[str, Any]:
    """Forget a registered model (its weights file is left alone); the removed entry."""
    entries = read_entries()
    removed = entry(name)
    del entries[name]
    write_entries(entries)
    return removed


def update_evaluation(name: str, evaluation: dict[str, Any]) -> Path:
    """Merge measured numbers into a registered model's ``evaluation`` table."""
    entries = read_entries()
    entry(name)
    entries[name]["evaluation"] = {**entries[name].get("evaluation", {}), **evaluation}
    return write_entries(entries)


# --------------------------------------------------------------------------- TOML writing
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+\Z")


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's; DEL, which JSON leaves raw, is escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any) -> str:
    """A TOML value: strings as basic strings (JSON's escapes are TOML's), bools, ints, floats
    (including inf and nan), and arrays of these."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to TOML")


def _table(path: list[str], table: dict[str, Any], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and v is not None}
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    if path and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(_key(p) for p in path) + "]")
    lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())
    for key, sub in tables.items():
        _table([*path, key], sub, lines)


def dumps(data: dict[str, Any]) -> str:
    """``data`` (nested dicts of the value types above; None values skipped) as a TOML document."""
    lines: list[str] = []
    _table([], data, lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def write_entries(entries: dict[str, dict[str, Any]]) -> Path:
    """Write the registry file atomically (a temporary file renamed over it)."""
    path = registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(HEADER + "\n" + dumps({"models": entries}), encoding="utf-8")
    os.replace(temporary, path)
    return path
