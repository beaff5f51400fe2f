"""Compute backend of the engine: device choice, batch sizes that fit memory, precision, progress.

- ``choose_device(None)``: cuda, then mps, then cpu; or the device given.
- ``default_batch_size``: on CUDA from the free memory and the memory one probe batch takes
  per sample; elsewhere a fixed budget of input elements per batch (128 Fashion-MNIST images:
  larger batches run slower on CPU).
- ``forward_context``: ``torch.inference_mode`` plus bf16 autocast on CUDA when asked.
- ``inference_model``: on CPU, a frozen private copy of a conv net with channels-last weights
  (oneDNN's fast convolution path: 2x the images/s of the NCHW SmallCNN, measured), cached per model;
  the shared model itself is never modified.
- ``passes_per_second``: the measured forward passes per second of a model on a device, which
  turns a planned number of forward passes into an estimated time before anything long runs.
- ``BatchProgress``: counts work done, calls ``progress(done, total, message)`` once per batch;
  the callback may raise :class:`mimi.progress.Cancelled` to stop at that batch.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import weakref
from typing import Iterator, Optional

import torch
from torch import nn

from mimi.progress import ProgressFn

PRECISIONS = ("float32", "bf16")
CPU_BATCH_ELEMENTS = 2 ** 17     # input elements per CPU batch: 167 images of 28x28 -> 128
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


def default_batch_size(model: nn.Module, sample_shape: tuple[int, ...], device: torch.device,
                       precision: str = "float32") -> int:
    """Images per forward pass: a power of two in [MIN_BATCH, MAX_BATCH] that fits the device.

    CUDA: half the free memory divided by the peak memory per sample of a probe batch of 16.
    CPU/MPS: ``CPU_BATCH_ELEMENTS`` input elements per batch (cache-friendly, little memory).
    """
    elements = 1
    for size in sample_shape:
        elements *= int(size)
    if device.type != "cuda":
        return int(min(MAX_BATCH, max(MIN_BATCH, _floor_power_of_two(CPU_BATCH_ELEMENTS / elements))))
    probe = 16
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with forward_context(device, precision):
        model(torch.zeros((probe, *sample_shape), device=device))
    torch.cuda.synchronize(device)
    per_sample = max(1, (torch.cuda.max_memory_allocated(device) - base) // probe)
    free, _total = torch.cuda.mem_get_info(device)
    return int(min(MAX_BATCH, max(MIN_BATCH, _floor_power_of_two(0.5 * free / per_sample))))


_CHANNELS_LAST: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...], nn.Module]]" = weakref.WeakKeyDictionary()
_CHANNELS_LAST_LOCK = threading.Lock()


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


def passes_per_second(model: nn.Module, sample_shape: tuple[int, ...], device: torch.device,
                      precision: str = "float32", repeats: int = 3) -> float:
    """Images per second through ``model`` at the engine's batch size: batch / (fastest of ``repeats``
    timed batches), after one warm-up batch, on the module the engine evaluates with."""
    import time

    device = torch.device(device)
    batch = default_batch_size(model, sample_shape, device, precision)
    net = inference_model(model, device)
    x = torch.rand((batch, *sample_shape), generator=torch.Generator().manual_seed(0)).to(device)
    fastest = float("inf")
    with forward_context(device, precision):
        for attempt in range(repeats + 1):
            start = time.perf_counter()
            net(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if attempt:
                fastest = min(fastest, time.perf_counter() - start)
    return batch / max(fastest, 1e-9)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


@contextlib.contextmanager
def forward_context(device: torch.device, precision: str = "float32") -> Iterator[None]:
    """Inference mode; bf16 autocast when ``precision == 'bf16'`` on CUDA (ignored elsewhere)."""
    check_precision(precision)
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
