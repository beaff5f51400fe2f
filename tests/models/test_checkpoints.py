"""Weights files: every format round-trips to the same logits, foreign layouts map, bad files are refused.

Models are random (seeded) and saved by the tests: a torchvision ResNet-18 at 224 px (ImageNet profile)
and a small WideResNet (wrn-10-1, RobustBench's layout) at 32 px (CIFAR-10 profile). BatchNorm running
statistics are randomised so that a model in train mode, or stats left at their defaults, would show.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys

import pytest
import torch
from torch import nn

from mimi.data.input_spaces import input_space
from mimi.models.architectures import build_network
from mimi.models.checkpoints import WeightsError, check_file, convert, load_classifier, read_checkpoint
from mimi.models.networks import Normalize

MADRY_MEAN, MADRY_STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def random_network(arch: str, space, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = build_network(arch, len(space.classes), space.channels, space.size)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def reference_logits(net: nn.Module, x: torch.Tensor, mean, std) -> torch.Tensor:
    with torch.no_grad():
        return net(Normalize(mean, std)(x))


def save_format(fmt: str, net: nn.Module, path) -> tuple[tuple, tuple] | None:
    """Write ``net`` in format ``fmt``; the (mean, std) the file carries, if any."""
    state = net.state_dict()
    if fmt == "zip":
        torch.save(state, path)
    elif fmt == "legacy":
        torch.save(state, path, _use_new_zipfile_serialization=False)
    elif fmt == "safetensors":
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif fmt in ("madry", "madry-old"):
        stats = {"normalizer.new_mean": torch.tensor(MADRY_MEAN).view(3, 1, 1),
                 "normalizer.new_std": torch.tensor(MADRY_STD).view(3, 1, 1)}
        weights = {**{f"module.model.{k}": v for k, v in state.items()},
                   **{f"module.attacker.model.{k}": v + 1 for k, v in state.items()},
                   **{f"module.{k}": v for k, v in stats.items()},
                   **{f"module.attacker.{k}": v for k, v in stats.items()}}
        key = "model" if fmt == "madry" else "state_dict"
        torch.save({key: weights, "epoch": 90, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}, path)
        return MADRY_MEAN, MADRY_STD
    elif fmt == "robustbench-module":
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    elif fmt == "robustbench-normalized":
        mean, std = (0.3, 0.4, 0.5), (0.21, 0.22, 0.23)
        torch.save({"normalize.mean": torch.tensor(mean).view(1, 3, 1, 1),
                    "normalize.std": torch.tensor(std).view(1, 3, 1, 1),
                    **{f"model.{k}": v for k, v in state.items()}}, path)
        return mean, std
    elif fmt == "torchscript":
        torch.jit.trace(net, torch.rand(1, 3, 32, 32) if path.name.startswith("wrn") else torch.rand(1, 3, 224, 224),
                        check_trace=False).save(str(path))
    else:
        raise AssertionError(fmt)
    return None


FORMATS = {"zip": "state-dict", "legacy": "state-dict", "safetensors": "safetensors", "madry": "madry",
           "madry-old": "madry", "robustbench-module": "robustbench", "robustbench-normalized": "robustbench",
           "torchscript": "torchscript"}


def round_trip(arch: str, dataset: str, fmt: str, tmp_path) -> None:
    space = input_space(dataset)
    net = random_network(arch, space)
    path = tmp_path / f"{arch}-{fmt}.bin"   # the name says nothing: formats are detected from the bytes
    stats = save_format(fmt, net, path)
    mean, std = stats or (space.mean, space.std)
    x = torch.rand((2, *space.shape), generator=torch.Generator().manual_seed(1))
    if fmt == "torchscript":
        with pytest.raises(WeightsError, match="TorchScript archive: loading it runs code"):
            load_classifier(path, "torchscript", space)
        loaded = load_classifier(path, "torchscript", space, trust_code=True)
    else:
        loaded = load_classifier(path, arch, space)
    assert loaded.checkpoint.format == FORMATS[fmt]
    assert loaded.normalization == ("checkpoint" if stats else "profile")
    assert loaded.mean == pytest.approx(mean) and loaded.std == pytest.approx(std)
    assert not loaded.model.training and not any(p.requires_grad for p in loaded.model.parameters())
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), reference_logits(net, x, mean, std), rtol=0, atol=1e-5)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_of_a_small_cifar_net_gives_the_same_logits(fmt, tmp_path):
    round_trip("wrn-10-1", "cifar10", fmt, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_of_a_torchvision_resnet18_gives_the_same_logits(fmt, tmp_path):
    round_trip("resnet18", "imagenet", fmt, tmp_path)


def test_robustbench_key_layouts_match_their_published_entries():
    """RobustBench's Standard CIFAR-10 WideResNet-28-10 and its ResNet-18 entries: key names and sizes."""
    wrn = build_network("wrn-28-10", 10, 3, 32).state_dict()
    for key in ("conv1.weight", "block1.layer.0.bn1.weight", "block1.layer.0.conv1.weight",
                "block1.layer.0.convShortcut.weight", "block3.layer.3.conv2.weight", "bn1.running_var", "fc.weight"):
        assert key in wrn, key
    assert "block1.layer.1.convShortcut.weight" not in wrn   # equal in and out: identity shortcut
    assert sum(v.numel() for k, v in wrn.items() if "running" not in k and "num_batches" not in k) == 36_479_194
    resnet = build_network("cifar-resnet18", 10, 3, 32).state_dict()
    for key in ("conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.shortcut.0.weight",
                "layer2.0.shortcut.1.running_mean", "linear.weight"):
        assert key in resnet, key
    assert "layer1.0.shortcut.0.weight" not in resnet
    assert sum(v.numel() for k, v in resnet.items() if "running" not in k and "num_batches" not in k) == 11_173_962


def test_a_madry_checkpoint_keeps_the_model_and_normalizer_and_drops_the_attacker(tmp_path):
    space = input_space("cifar10")
    net = random_network("wrn-10-1", space)
    save_format("madry", net, tmp_path / "madry.pt")
    checkpoint = read_checkpoint(tmp_path / "madry.pt", set(net.state_dict()))
    assert checkpoint.format == "madry"
    assert set(checkpoint.weights) == set(net.state_dict())            # attacker and normalizer gone
    assert all(torch.equal(checkpoint.weights[k], v) for k, v in net.state_dict().items())  # not the attacker's +1
    assert checkpoint.mean == pytest.approx(MADRY_MEAN) and checkpoint.std == pytest.approx(MADRY_STD)
    assert "dropped the attacker's copy" in checkpoint.describe() and "module.model." in checkpoint.describe()


def test_given_mean_and_std_override_the_checkpoint(tmp_path):
    space = input_space("cifar10")
    net = random_network("wrn-10-1", space)
    save_format("madry", net, tmp_path / "madry.pt")
    loaded = load_classifier(tmp_path / "madry.pt", "wrn-10-1", space, mean=[0.5], std=[0.5])
    x = torch.rand(2, 3, 32, 32)
    assert loaded.normalization == "given"
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net((x - 0.5) / 0.5), rtol=0, atol=1e-5)


def test_convert_writes_plain_safetensors_with_the_normalization_in_its_metadata(tmp_path):
    from safetensors import safe_open

    space = input_space("cifar10")
    net = random_network("wrn-10-1", space)
    save_format("madry", net, tmp_path / "madry.pt")
    convert(tmp_path / "madry.pt", tmp_path / "plain.safetensors", "wrn-10-1", space)
    with safe_open(str(tmp_path / "plain.safetensors"), "pt") as f:
        assert set(f.keys()) == set(net.state_dict())   # loadable by the bare architecture, strict
        assert f.metadata()["mimi.architecture"] == "wrn-10-1"
    loaded = load_classifier(tmp_path / "plain.safetensors", "wrn-10-1", space)
    assert loaded.checkpoint.format == "safetensors" and loaded.normalization == "checkpoint"
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), reference_logits(net, x, MADRY_MEAN, MADRY_STD), rtol=0, atol=1e-5)


def test_zoo_architecture_with_its_own_normalization_round_trips(tmp_path):
    from mimi.models.networks import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN().eval()
    torch.save(net.state_dict(), tmp_path / "small.pt")
    loaded = load_classifier(tmp_path / "small.pt", "small-cnn", input_space("fashion-mnist"))
    assert loaded.normalization == "checkpoint" and loaded.checkpoint.format == "state-dict"
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net(x), rtol=0, atol=0)


# --------------------------------------------------------------------------- mismatches
def test_mismatched_keys_name_the_first_offenders_and_the_architecture(tmp_path):
    space = input_space("cifar10")
    state = random_network("wrn-10-1", space).state_dict()
    state["extra.weight"] = torch.zeros(3)
    del state["fc.bias"]
    state["fc.weight"] = torch.zeros(7, 64)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(WeightsError) as info:
        load_classifier(tmp_path / "bad.pt", "wrn-10-1", space)
    message = str(info.value)
    assert "wrn-10-1 (10 classes, input 3x32x32, input space cifar10)" in message
    assert "missing keys: fc.bias" in message and "unexpected keys: extra.weight" in message
    assert "fc.weight is 7x64 in the file, 10x64 expected" in message


def test_a_different_architecture_lists_a_few_keys_and_counts_the_rest(tmp_path):
    space = input_space("cifar10")
    torch.save(random_network("wrn-10-1", space).state_dict(), tmp_path / "wrn.pt")
    with pytest.raises(WeightsError, match=r"does not fit the expected architecture cifar-resnet18 .*\(\+\d+ more\)"):
        load_classifier(tmp_path / "wrn.pt", "cifar-resnet18", space)


def test_unknown_architecture_and_bad_normalization_are_value_errors(tmp_path):
    space = input_space("cifar10")
    torch.save(random_network("wrn-10-1", space).state_dict(), tmp_path / "wrn.pt")
    with pytest.raises(ValueError, match="unknown architecture 'resnet19'"):
        load_classifier(tmp_path / "wrn.pt", "resnet19", space)
    with pytest.raises(ValueError, match="std .* must be positive"):
        load_classifier(tmp_path / "wrn.pt", "wrn-10-1", space, mean=[0.5], std=[0.0])
    with pytest.raises(ValueError, match="must have 1 or 3 values"):
        load_classifier(tmp_path / "wrn.pt", "wrn-10-1", space, mean=[0.5, 0.5], std=[0.2, 0.2])


# --------------------------------------------------------------------------- bad files
def test_empty_truncated_and_foreign_files_get_clear_messages(tmp_path):
    space = input_space("cifar10")
    net = random_network("wrn-10-1", space)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match="is empty"):
        read_checkpoint(tmp_path / "empty.pt")
    for fmt in ("zip", "legacy", "safetensors"):
        save_format(fmt, net, tmp_path / fmt)
        data = (tmp_path / fmt).read_bytes()
        (tmp_path / f"cut-{fmt}").write_bytes(data[: len(data) // 2])
        with pytest.raises(WeightsError, match="truncated or corrupted"):
            read_checkpoint(tmp_path / f"cut-{fmt}")
    (tmp_path / "photo.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(WeightsError, match="not a format mimi reads"):
        read_checkpoint(tmp_path / "photo.pt")
    with pytest.raises(WeightsError, match="does not exist"):
        read_checkpoint(tmp_path / "nowhere.pt")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "no-tensors.pt")
    with pytest.raises(WeightsError, match="holds no dict of tensors"):
        read_checkpoint(tmp_path / "no-tensors.pt")


def test_a_2_gib_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as f:
        f.truncate(2 << 30)                      # sparse: no disk used
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    with pytest.raises(WeightsError, match=r"is 2\.00 GiB, above the bound of 1\.00 GiB; it was not read"):
        read_checkpoint(huge)
    assert str(huge) not in map(str, opened)
    small = tmp_path / "small.pt"
    small.write_bytes(b"x" * 5000)
    with pytest.raises(WeightsError, match="above the bound of 1000 bytes"):
        check_file(small, max_bytes=1000)


# --------------------------------------------------------------------------- malicious pickles
class SystemCall:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class Exec:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        import builtins
        return (builtins.exec, (self.code,))


class Popen:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.path],))


def malicious_files(folder, canary) -> None:
    """A corpus of weights files that would create ``canary`` if unpickled: torch zip and legacy files,
    raw pickles of several protocols, payloads nested in a state dict, and hand-written opcodes."""
    touch = f"touch {canary}"
    code = f"open({str(canary)!r}, 'w').write('pwned')"
    payloads = {"system": SystemCall(touch), "exec": Exec(code), "popen": Popen(str(canary)),
                "eval": type("Eval", (), {"__reduce__": lambda self: (eval, (code,))})()}
    for name, payload in payloads.items():
        torch.save({"conv.weight": torch.zeros(1), "evil": payload}, folder / f"torch-{name}.pt")
        torch.save({"state_dict": {"w": payload}}, folder / f"legacy-{name}.pth", _use_new_zipfile_serialization=False)
        for protocol in (0, 2, 4):
            (folder / f"pickle{protocol}-{name}.pkl").write_bytes(pickle.dumps(payload, protocol=protocol))
    # protocol 0 by hand: GLOBAL posix system, a string, TUPLE1, REDUCE (no class needed to build it)
    (folder / "handmade.pt").write_bytes(b"cposix\nsystem\n(V" + touch.encode() + b"\ntR.")
    (folder / "handmade-builtins.pt").write_bytes(b"\x80\x02cbuiltins\nexec\nX" + struct.pack("<I", len(code))
                                                  + code.encode() + b"\x85R.")


def test_malicious_pickles_are_refused_without_side_effects(tmp_path):
    canary = tmp_path / "CANARY"
    folder = tmp_path / "corpus"
    folder.mkdir()
    malicious_files(folder, canary)
    files = sorted(folder.iterdir())
    assert len(files) == 22
    for path in files:
        with pytest.raises(WeightsError, match="needs code to load|not a PyTorch weights file") as info:
            read_checkpoint(path)
        assert "never runs code" in str(info.value) and "safetensors" in str(info.value), path.name
        assert not canary.exists(), f"{path.name} ran code"


def test_the_handmade_pickle_really_is_a_payload(tmp_path):
    """Guard for the corpus: unpickled without protection, it does touch the canary (in a child process)."""
    canary = tmp_path / "CANARY"
    malicious_files(tmp_path, canary)
    subprocess.run([sys.executable, "-c", f"import pickle; pickle.loads(open({str(tmp_path / 'handmade.pt')!r}, "
                                          f"'rb').read())"], check=False, capture_output=True)
    assert canary.exists()


def test_torchscript_is_refused_unless_trusted(tmp_path):
    space = input_space("cifar10")
    save_format("torchscript", random_network("wrn-10-1", space), tmp_path / "wrn-script.pt")
    with pytest.raises(WeightsError, match="--trust-code"):
        read_checkpoint(tmp_path / "wrn-script.pt")
    with pytest.raises(WeightsError, match="TorchScript archive; register it with --arch torchscript"):
        load_classifier(tmp_path / "wrn-script.pt", "wrn-10-1", space, trust_code=True)
