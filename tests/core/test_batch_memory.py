"""Batch sizes from the memory available, measured by a probe that leaves the shared model alone; precision auto."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mimi.core import compute
from mimi.core.compute import activation_bytes, default_batch_size, resolve_precision
from mimi.core.games import ImageGame

CPU = torch.device("cpu")


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 10 * 10, 4)).eval()


def test_the_probe_counts_the_input_and_every_operator_output():
    net = conv_net()
    # input 3x10x10, convolution 8x10x10, flatten (a view) 800, linear 4 (addmm), float32
    assert activation_bytes(net, (3, 10, 10), CPU) == 4 * (300 + 800 + 800 + 4)
    assert not net._forward_hooks and not any(m._forward_hooks for m in net.modules())


def test_cpu_batches_shrink_to_what_a_quarter_of_the_free_memory_holds(monkeypatch):
    net = conv_net()
    per_image = activation_bytes(net, (3, 10, 10), CPU)
    monkeypatch.setattr(compute, "available_memory", lambda device: None)
    assert default_batch_size(net, (3, 10, 10), CPU) == 256          # 2^17 elements / 300 = 436 -> 256
    monkeypatch.setattr(compute, "available_memory", lambda device: 4 * 5 * per_image)
    assert default_batch_size(net, (3, 10, 10), CPU) == 4           # 0.25 * free / per image = 5 -> 4
    monkeypatch.setattr(compute, "available_memory", lambda device: per_image)
    assert default_batch_size(net, (3, 10, 10), CPU) == 1


def test_available_memory_reads_meminfo_on_linux():
    free = compute.available_memory(CPU)
    assert free is None or free > 2 ** 20


def test_precision_auto_is_float32_off_gpu_and_recorded_resolved():
    assert resolve_precision("auto", CPU) == "float32" and resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        resolve_precision("half", CPU)
    game = ImageGame(conv_net(), torch.rand(3, 10, 10), 1, grid="2x2", baseline="zero", precision="auto")
    assert game.precision == "float32"
    from mimi.analysis import image_game, shapley_map

    game = image_game(conv_net(), torch.rand(3, 10, 10), 1, grid="2x2", baseline="zero", precision="auto")
    result = shapley_map(game, samples=2)
    assert result.params["precision"] == "float32"


def test_small_inputs_on_a_roomy_machine_skip_the_probe(monkeypatch):
    import mimi.core.compute as compute

    def probe(*args, **kwargs):
        raise AssertionError("the memory probe ran")

    monkeypatch.setattr(compute, "activation_bytes", probe)
    monkeypatch.setattr(compute, "available_memory", lambda device: 8 << 30)
    assert compute.default_batch_size(torch.nn.Identity(), (1, 28, 28), torch.device("cpu")) == 128
    monkeypatch.setattr(compute, "available_memory", lambda device: 64 << 20)    # 64 MiB: probe needed
    with pytest.raises(AssertionError, match="probe ran"):
        compute.default_batch_size(torch.nn.Identity(), (1, 28, 28), torch.device("cpu"))
