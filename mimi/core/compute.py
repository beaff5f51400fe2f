"""Compute backend of the engine: device choice, batch sizes that fit memory, precision, progress.

- ``choose_device(None)``: cuda, then mps, then cpu; or the device given.
- ``default_batch_size``: a quarter of the free memory (CUDA: ``mem_get_info``; CPU: MemAvailable) over
  the memory one image takes in a probe forward pass (:func:`activation_bytes`, measured once per model);
  on CPU also at most a fixed budget of input elements per batch (128 Fashion-MNIST images, 8 at
  224 px: larger batches run slower on CPU).
- ``forward_context``: ``torch.inference_mode`` plus bf16 autocast on CUDA when asked; precision
  ``auto`` is bf16 on a CUDA GPU, float32 elsewhere (:func:`resolve_precision`).
- ``inference_model``: on CPU, a frozen private copy of a conv net with channels-last weights
  (oneDNN's fast convolution path: 2x the images/s of the NCHW SmallCNN, measured), cached per model;
  the shared model itself is never modified.
- ``passes_per_second``: the measured forward passes per second of a model on a device, which
  turns a planned number of forward passes into an estimated time before anything long runs.
- ``BatchProgress``: counts work done, calls ``progress(done, total, message)`` once per batch;
  the callback may raise :class:`mimi.core.progress.Cancelled` to stop at that batch.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import weakref
from typing import Iterator, Optional

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from mimi.core.progress import ProgressFn

PRECISIONS = ("float32", "bf16", "auto")
CPU_BATCH_ELEMENTS = 2 ** 17     # input elements per CPU batch: 167 images of 28x28 -> 128
MEMORY_FRACTION = 0.25           # of the free memory, for one batch's activations
#: An upper bound on the activation bytes of an image over its input bytes (ResNet-18 at 224 px: 54),
#: below which a CPU batch needs no memory probe.
ACTIVATIONS_PER_INPUT = 256
MAX_BATCH = 8192
MIN_BATCH = 8


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: cuda if available, then mps, then cpu; otherwise ``torch.device(device)``."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA GPU is available")
    return chosen


def model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _floor_power_of_two(value: float) -> int:
    return 1 << max(0, int(value).bit_length() - 1) if value >= 1 else 1


def available_memory(device: torch.device) -> Optional[int]:
    """Bytes free for new tensors: ``torch.cuda.mem_get_info`` on CUDA; MemAvailable of /proc/meminfo
    elsewhere (None where neither is known)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class _OutputBytes(TorchDispatchMode):
    """Counts the bytes of every tensor the operators of a forward pass return, in this thread only
    (the shared model gets no hooks)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.total += leaf.numel() * leaf.element_size()
        return out


_ACTIVATIONS: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]]" = weakref.WeakKeyDictionary()


def activation_bytes(model: nn.Module, sample_shape: tuple[int, ...], device: torch.device,
                     precision: str = "float32") -> int:
    """Memory one input costs in a forward pass, measured once per model and shape. CUDA: the peak
    allocation of a probe batch of 16, per sample. Elsewhere: the input plus every operator output of a
    one-image probe, an upper bound on what inference holds at once."""
    key = (tuple(int(s) for s in sample_shape), device.type, precision)
    cached = _ACTIVATIONS.setdefault(model, {})
    if key in cached:
        return cached[key]
    if device.type == "cuda":
        probe = 16
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with forward_context(device, precision):
            model(torch.zeros((probe, *sample_shape), device=device))
        torch.cuda.synchronize(device)
        cached[key] = max(1, (torch.cuda.max_memory_allocated(device) - base) // probe)
        return cached[key]
    counter, probe = _OutputBytes(), torch.zeros((1, *sample_shape), device=device)
    with forward_context(device, precision), counter:
        model(probe)
    cached[key] = 4 * int(torch.Size(sample_shape).numel()) + counter.total
    return cached[key]


def default_batch_size(model: nn.Module, sample_shape: tuple[int, ...], device: torch.device,
                       precision: str = "float32") -> int:
    """Images per forward pass: a power of two that fits the device, at most MAX_BATCH.

    CUDA: ``MEMORY_FRACTION`` of the free memory divided by :func:`activation_bytes` (at least MIN_BATCH).
    CPU/MPS: ``CPU_BATCH_ELEMENTS`` input elements per batch (cache-friendly; at least MIN_BATCH), and
    never more than ``MEMORY_FRACTION`` of MemAvailable over the probe's bytes per image (a 224-px model
    on a small machine may get fewer than MIN_BATCH); the probe runs only when the batch could come
    near that bound (``ACTIVATIONS_PER_INPUT`` times its input bytes)."""
    precision = resolve_precision(precision, device)
    elements = 1
    for size in sample_shape:
        elements *= int(size)
    free = available_memory(device)
    if device.type == "cuda":
        by_memory = MEMORY_FRACTION * free / activation_bytes(model, sample_shape, device, precision)
        return int(min(MAX_BATCH, max(MIN_BATCH, _floor_power_of_two(by_memory))))
    batch = min(MAX_BATCH, max(MIN_BATCH, _floor_power_of_two(CPU_BATCH_ELEMENTS / elements)))
    if free is None or batch * 4 * elements * ACTIVATIONS_PER_INPUT <= MEMORY_FRACTION * free:
        return int(batch)   # fits even at a generous activations/input ratio: no probe (it costs ~1 s)
    try:
        per_image = activation_bytes(model, sample_shape, device, precision)
    except RuntimeError:   # the model cannot take this shape: its real forward pass will say so
        return int(batch)
    return int(max(1, min(batch, _floor_power_of_two(MEMORY_FRACTION * free / per_image))))


_CHANNELS_LAST: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...], nn.Module]]" = weakref.WeakKeyDictionary()
_CHANNELS_LAST_LOCK = threading.Lock()


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients on parameters: safe to share across sessions and threads."""
    model.eval()
    model.requires_grad_(False)
    return model


def inference_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The module that evaluates masked batches: on CPU, for a model with 2-D convolutions, a frozen
    copy with channels-last weights (same outputs to float rounding), rebuilt if the model's
    parameters change in place; otherwise the model itself."""
    if device.type != "cpu" or not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return model
    versions = tuple(p._version for p in model.parameters())
    with _CHANNELS_LAST_LOCK:
        cached = _CHANNELS_LAST.get(model)
        if cached is not None and cached[0] == versions:
            return cached[1]
        fast = copy.deepcopy(model).to(memory_format=torch.channels_last)
        fast.eval().requires_grad_(False)
        _CHANNELS_LAST[model] = (versions, fast)
        return fast


def fastest_forward(net: nn.Module, x: torch.Tensor, device: torch.device, precision: str = "float32",
                    repeats: int = 3) -> float:
    """Seconds of the fastest of ``repeats`` timed forward passes of ``net`` on ``x``, after one warm-up."""
    fastest = float("inf")
    with forward_context(device, precision):
        for attempt in range(repeats + 1):
            start = time.perf_counter()
            net(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if attempt:
                fastest = min(fastest, time.perf_counter() - start)
    return fastest


def passes_per_second(model: nn.Module, sample_shape: tuple[int, ...], device: torch.device,
                      precision: str = "float32", repeats: int = 3) -> float:
    """Images per second through ``model`` at the engine's batch size: batch / (fastest of ``repeats``
    timed batches), after one warm-up batch, on the module the engine evaluates with."""
    device = torch.device(device)
    batch = default_batch_size(model, sample_shape, device, precision)
    x = torch.rand((batch, *sample_shape), generator=torch.Generator().manual_seed(0)).to(device)
    return batch / max(fastest_forward(inference_model(model, device), x, device, precision, repeats), 1e-9)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 on a CUDA GPU that supports it, float32 elsewhere; other precisions as they are."""
    if check_precision(precision) != "auto":
        return precision
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "float32"


@contextlib.contextmanager
def forward_context(device: torch.device, precision: str = "float32") -> Iterator[None]:
    """Inference mode; bf16 autocast when ``precision`` is (or resolves to) bf16 on CUDA (ignored elsewhere)."""
    precision = resolve_precision(precision, device)
    with torch.inference_mode():
        if precision == "bf16" and device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        else:
            yield


class BatchProgress:
    """Progress over a computation whose size may only be known approximately in advance.

    ``expect(total)`` announces the work (e.g. forward passes) a computation will do;
    ``advance(count)`` is called once per batch and forwards ``(done, total, message)`` to the
    callback, which may raise ``Cancelled``. ``total`` grows if the work exceeds the announcement.
    """

    def __init__(self, progress: Optional[ProgressFn] = None, message: str = "") -> None:
        self.progress, self.message = progress, message
        self.done, self.total = 0, 0

    def expect(self, total: int, message: str | None = None) -> None:
        self.total = self.done + int(total)
        if message is not None:
            self.message = message

    def finish(self) -> None:
        """Report the work as complete (``total = done``), e.g. after an estimated total."""
        if self.total != self.done:
            self.total = self.done
            if self.progress is not None:
                self.progress(self.done, self.total, self.message)

    def advance(self, count: int) -> None:
        self.done += int(count)
        self.total = max(self.total, self.done)
        if self.progress is not None:
            self.progress(self.done, self.total, self.message)
