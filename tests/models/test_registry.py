"""The model registry and ``mimi models``: add, list, remove, check, convert, with ``MIMI_HOME`` isolated;
registered models in ``mimi.models.zoo``, ``mimi analyze`` and ``mimi evaluate``; broken registries and files."""

from __future__ import annotations

import hashlib
import math
import os

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10
    import tomli as tomllib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mimi.analysis import ImageReport
from mimi.cli import main
from mimi.core.results import load_result
from mimi.data.images import gallery_images
from mimi.data.input_spaces import input_space
from mimi.models import registry, zoo
from tests.models.test_checkpoints import SystemCall, random_network, save_format


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MIMI_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def cifar_weights(tmp_path):
    """A random wrn-10-1 (CIFAR-10) in Madry's layout, with the network itself."""
    net = random_network("wrn-10-1", input_space("cifar10"))
    save_format("madry", net, tmp_path / "wrn.pt")
    return tmp_path / "wrn.pt", net


def mimi(capsys, *args) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_add_list_check_remove_through_the_cli(cifar_weights, home, capsys):
    path, _ = cifar_weights
    status, out, _ = mimi(capsys, "models", "add", "my-wrn", "--arch", "wrn-10-1", "--weights", str(path),
                          "--dataset", "cifar10", "--note", "a test model")
    assert status == 0
    assert "registered my-wrn: wrn-10-1 for cifar10 (3x32x32, 10 classes)" in out
    assert "Madry robustness checkpoint" in out and "normalization (checkpoint): mean [0.4, 0.5, 0.6]" in out
    entries = tomllib.loads((home / "models.toml").read_text())["models"]
    assert entries["my-wrn"]["format"] == "madry" and entries["my-wrn"]["weights"] == str(path.resolve())
    assert entries["my-wrn"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    status, out, _ = mimi(capsys, "models", "list")
    assert status == 0
    assert any(line.split()[:5] == ["my-wrn", "registry", "cifar10", "wrn-10-1", "madry"] for line in out.splitlines())
    assert "fmnist-standard" in out
    status, out, _ = mimi(capsys, "models", "check", "my-wrn", "--device", "cpu")
    assert status == 0
    assert "gallery image 'Chelsea the cat' (true class cat): predicted" in out and "verified" in out
    status, out, _ = mimi(capsys, "models", "remove", "my-wrn")
    assert status == 0 and path.exists()
    assert "my-wrn" not in zoo.names() and registry.read_entries() == {}


def test_registered_models_share_the_zoo_namespace(cifar_weights):
    path, net = cifar_weights
    card, _ = registry.add("my-wrn", path, "wrn-10-1", "cifar10")
    assert zoo.names()[-1] == "my-wrn" and "fmnist-standard" in zoo.names()
    assert zoo.names(registered=False) == [n for n in zoo.names() if n != "my-wrn"]
    assert zoo.card("my-wrn") == card
    for key in ("name", "description", "architecture", "dataset", "classes", "input", "format", "source", "sha256",
                "parameters"):
        assert card[key], key
    assert card["input"]["shape"] == [3, 32, 32] and card["parameters"] == sum(p.numel() for p in net.parameters())
    model, loaded_card = zoo.load("my-wrn")
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        mean, std = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
        torch.testing.assert_close(model(x), net((x - mean) / std), rtol=0, atol=1e-5)
    assert not model.training and loaded_card["name"] == "my-wrn"


def test_names_clashes_and_duplicates_are_refused(cifar_weights):
    path, _ = cifar_weights
    with pytest.raises(registry.RegistryError, match="is a model of the shipped zoo"):
        registry.add("fmnist-standard", path, "wrn-10-1", "cifar10")
    with pytest.raises(registry.RegistryError, match="use 1-64 letters"):
        registry.add("bad name", path, "wrn-10-1", "cifar10")
    registry.add("my-wrn", path, "wrn-10-1", "cifar10")
    with pytest.raises(registry.RegistryError, match="already registered .* pass --replace"):
        registry.add("my-wrn", path, "wrn-10-1", "cifar10")
    registry.add("my-wrn", path, "wrn-10-1", "cifar10", mean=[0.5], std=[0.5], replace=True)
    assert registry.card("my-wrn")["input"]["source"] == "given"


def test_a_failed_add_writes_nothing(cifar_weights, home, tmp_path):
    path, _ = cifar_weights
    registry.add("first", path, "wrn-10-1", "cifar10")
    before = (home / "models.toml").read_bytes()
    torch.save({"evil": SystemCall(f"touch {tmp_path / 'CANARY'}")}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="needs code to load"):
        registry.add("evil", tmp_path / "evil.pt", "wrn-10-1", "cifar10")
    with pytest.raises(ValueError, match="does not fit the expected architecture cifar-resnet18"):
        registry.add("wrong", path, "cifar-resnet18", "cifar10")
    assert (home / "models.toml").read_bytes() == before and not (tmp_path / "CANARY").exists()


def test_the_cli_refuses_a_malicious_file_with_status_2(tmp_path, home, capsys):
    torch.save({"evil": SystemCall(f"touch {tmp_path / 'CANARY'}")}, tmp_path / "evil.pth")
    status, _, err = mimi(capsys, "models", "add", "evil", "--arch", "resnet18", "--weights",
                          str(tmp_path / "evil.pth"), "--dataset", "imagenet")
    assert status == 2 and "it references posix.system" in err
    assert not (tmp_path / "CANARY").exists() and not (home / "models.toml").exists()


def test_a_changed_weights_file_is_refused_at_load(cifar_weights):
    path, _ = cifar_weights
    registry.add("my-wrn", path, "wrn-10-1", "cifar10")
    save_format("madry", random_network("wrn-10-1", input_space("cifar10"), seed=1), path)
    with pytest.raises(ValueError, match="changed since it was registered .*it was not loaded"):
        zoo.load("my-wrn")


def test_a_replaced_trusted_torchscript_file_is_never_run(tmp_path, monkeypatch):
    save_format("torchscript", random_network("wrn-10-1", input_space("cifar10")), tmp_path / "wrn-script.pt")
    card, _ = registry.add("scripted", tmp_path / "wrn-script.pt", "torchscript", "cifar10", trust_code=True)
    assert card["trust_code"] and card["format"] == "torchscript"
    assert zoo.load("scripted")[0](torch.rand(2, 3, 32, 32)).shape == (2, 10)
    save_format("torchscript", random_network("wrn-10-1", input_space("cifar10"), seed=1), tmp_path / "wrn-script.pt")
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: pytest.fail("the replaced archive was loaded"))
    with pytest.raises(ValueError, match="changed since it was registered .*it was not loaded"):
        zoo.load("scripted")


def test_a_registry_syntax_error_names_the_line_and_the_zoo_still_loads(home, capsys):
    home.mkdir()
    (home / "models.toml").write_text('[models.a]\narchitecture = "resnet18"\ndataset = imagenet\n')
    with pytest.raises(registry.RegistryError, match=r"TOML syntax error: .*line 3"):
        registry.read_entries()
    assert zoo.names() == zoo.names(registered=False) and "fmnist-standard" in zoo.names()
    model, _ = zoo.load("fmnist-standard")
    assert model(torch.rand(1, 1, 28, 28)).shape == (1, 10)
    with pytest.raises(zoo.UnknownModel, match="the registry is unreadable: .*line 3"):
        zoo.card("a")
    status, out, err = mimi(capsys, "models", "list")
    assert status == 2 and "line 3" in err and "fmnist-standard" in out


def test_bad_entries_name_the_model_and_key(home):
    home.mkdir()
    (home / "models.toml").write_text('[models.a]\narchitecture = "resnet18"\ndataset = "imagenet"\nweights = 3\n')
    with pytest.raises(registry.RegistryError, match="model 'a' needs weights"):
        registry.read_entries()
    (home / "models.toml").write_text('[models.a]\narchitecture = "x"\ndataset = "mnist"\nweights = "w.pt"\n')
    with pytest.raises(registry.RegistryError, match="model 'a': unknown input space 'mnist'"):
        registry.read_entries()


def test_classes_file_sets_the_class_count(tmp_path):
    net = random_network("wrn-10-1", input_space("cifar10"))
    net.fc = torch.nn.Linear(64, 3)
    torch.save(net.state_dict(), tmp_path / "three.pt")
    (tmp_path / "classes.txt").write_text("red\ngreen\nblue\n")
    with pytest.raises(ValueError, match="fc.weight is 3x64 in the file, 10x64 expected"):
        registry.add("three", tmp_path / "three.pt", "wrn-10-1", "cifar10")
    card, _ = registry.add("three", tmp_path / "three.pt", "wrn-10-1", "cifar10", classes_file=tmp_path / "classes.txt")
    assert card["classes"] == ["red", "green", "blue"] and zoo.load("three")[0](torch.rand(2, 3, 32, 32)).shape == (2, 3)


def test_convert_through_the_cli_then_register_the_safetensors(cifar_weights, tmp_path, capsys):
    path, net = cifar_weights
    out = tmp_path / "wrn.safetensors"
    status, text, _ = mimi(capsys, "models", "convert", str(path), "--to", str(out), "--arch", "wrn-10-1",
                           "--dataset", "cifar10")
    assert status == 0 and f"wrote {out}" in text and "Madry" in text
    status, text, _ = mimi(capsys, "models", "add", "converted", "--arch", "wrn-10-1", "--weights", str(out),
                           "--dataset", "cifar10")
    assert status == 0 and "format: safetensors" in text
    assert registry.card("converted")["input"]["mean"] == pytest.approx([0.4, 0.5, 0.6])
    status, _, err = mimi(capsys, "models", "convert", str(path), "--to", str(tmp_path / "x.pt"), "--arch",
                          "wrn-10-1", "--dataset", "cifar10")
    assert status == 2 and "name it *.safetensors" in err


def test_the_size_bound_is_an_option(cifar_weights, capsys):
    path, _ = cifar_weights
    status, _, err = mimi(capsys, "models", "add", "x", "--arch", "wrn-10-1", "--weights", str(path),
                          "--dataset", "cifar10", "--max-size", "0.0001")
    assert status == 2 and "above the bound of" in err and "it was not read" in err


def test_analyze_a_registered_model_predicts_as_the_in_memory_model(cifar_weights, tmp_path, capsys):
    path, net = cifar_weights
    registry.add("my-wrn", path, "wrn-10-1", "cifar10")
    report_path = tmp_path / "report.json"
    status, out, _ = mimi(capsys, "analyze", "--model", "my-wrn", "--image", "gallery:1", "--grid", "2x2", "--ratios",
                          "0.5,1", "--samples", "2", "--pair-count", "2", "--shapley-samples", "2", "--quiet",
                          "--json", str(report_path))
    assert status == 0, out
    report = load_result(report_path)
    assert isinstance(report, ImageReport) and report.classes[report.prediction] in out
    image = gallery_images("cifar10")[1].image
    mean, std = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        probabilities = torch.softmax(net((image[None] - mean) / std).double(), 1)[0]
    assert report.prediction == int(probabilities.argmax())
    np.testing.assert_allclose(report.probabilities, probabilities.numpy(), atol=1e-6)
    np.testing.assert_allclose(report.image, image.numpy())
    assert report.profile.params["grid"] == "2x2"


def test_evaluate_update_card_records_accuracies_of_a_registered_model(cifar_weights, tmp_path, capsys):
    path, _ = cifar_weights
    registry.add("my-wrn", path, "wrn-10-1", "cifar10")
    folder = tmp_path / "cifar"
    for k, name in enumerate(("cat", "dog", "ship")):
        (folder / name).mkdir(parents=True)
        for i in range(2):
            rgb = np.random.default_rng(3 * k + i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(rgb).save(folder / name / f"{i}.png")
    status, out, _ = mimi(capsys, "evaluate", "--model", "my-wrn", "--data-dir", str(folder), "--steps", "2",
                          "--update-card", "--device", "cpu")
    assert status == 0, out
    evaluation = registry.card("my-wrn")["evaluation"]
    assert evaluation["n_images"] == 6 and evaluation["eps"] == [pytest.approx(8 / 255)]
    assert evaluation["data"] == f"CIFAR-10 folder {folder}" and evaluation["protocol"]["steps"] == 2
    assert 0 <= evaluation["robust_accuracy"][0] <= evaluation["clean_accuracy"] <= 1
    assert f"clean        {100 * evaluation['clean_accuracy']:6.2f}%" in out


# --------------------------------------------------------------------------- the TOML writer
scalars = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
                    st.text(max_size=20))
keys = st.text(min_size=1, max_size=12)
tables = st.recursive(st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=4)), max_size=4),
                      lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=3), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(tables)
def test_the_toml_writer_round_trips_through_tomllib(data):
    assert tomllib.loads(registry.dumps(data)) == data


def test_the_toml_writer_handles_special_floats_and_quotes():
    data = {"m": {"inf": math.inf, "ninf": -math.inf, "q": 'say "hi"\n\ttab \\ back', "key with space": [1, 2.5]}}
    back = tomllib.loads(registry.dumps(data))
    assert back == data
    assert math.isnan(tomllib.loads(registry.dumps({"m": {"x": math.nan}}))["m"]["x"])


def test_the_registry_file_lives_in_mimi_home(home, monkeypatch):
    assert registry.registry_file() == home / "models.toml"
    monkeypatch.delenv("MIMI_HOME")
    assert str(registry.registry_file()) == os.path.expanduser("~/.mimi/models.toml")
