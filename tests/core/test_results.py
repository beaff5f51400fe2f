import dataclasses
import json
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

from mimi.analysis import Contrast, Estimated
from mimi.core.results import SCHEMA, Result, load_result
from mimi.data.datasets import ASSETS_DIR
from mimi.models.evaluation import AccuracyResult


def test_any_result_file_reads_back_in_a_fresh_process(tmp_path):
    path = tmp_path / "acc.json"
    AccuracyResult("m", 10, 0.9, [0.1], [0.5]).to_json(path)
    code = ("from mimi.core.results import load_result; r = load_result(%r); "
            "print(type(r).__name__, r.robust_accuracy)" % str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["AccuracyResult", "[0.5]"]


# --------------------------------------------------------------------------- nested clean / adversarial records
def test_contrast_merge_and_scaled_estimates():
    a = Contrast(Estimated(np.array([1.0, 2.0]), np.array([0.1, 0.2])), None, None)
    b = Contrast(Estimated(np.array([3.0, 4.0]), np.array([0.3, 0.4])), None, None)
    merged = Contrast.merge([a, b], lambda parts: Estimated(sum(p.mean for p in parts), sum(p.se for p in parts)))
    np.testing.assert_allclose(merged.clean.mean, [4.0, 6.0])
    assert merged.adversarial is None and merged.difference is None
    scaled = a.clean.scaled(np.array([2.0, -3.0]))
    np.testing.assert_allclose(scaled.mean, [2.0, -6.0])
    np.testing.assert_allclose(scaled.se, [0.2, 0.6])


# --------------------------------------------------------------------------- the plain JSON layout (mimi.result/2)
def old_layout(value):
    """``value`` as files of the first layout (no schema) held it: arrays and tensors as {"__ndarray__": ...}."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Result):
        return {"__result__": value.result_type,
                **{f.name: old_layout(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): old_layout(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [old_layout(v) for v in value]
    return value


def strict_json(text: str):
    """``json.loads`` refusing NaN / Infinity literals (what jq and strict parsers refuse or garble)."""
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def assert_equal_values(a, b, at="result"):
    """``b`` is ``a`` read back: same types (tuples read back as lists), arrays and tensors of the same dtype,
    shape and values (NaN equal to NaN), floats equal or both NaN."""
    import torch

    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and b.dtype == a.dtype and b.device.type == "cpu", at
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=at)
        return
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), (at, type(b))
        assert (b.dtype, b.shape) == (a.dtype, a.shape), (at, b.dtype, b.shape, a.dtype, a.shape)
        np.testing.assert_array_equal(a, b, err_msg=at)
        return
    if isinstance(a, tuple):
        a = list(a)
    assert type(a) is type(b), (at, type(a), type(b))
    if isinstance(a, Result):
        for f in dataclasses.fields(a):
            assert_equal_values(getattr(a, f.name), getattr(b, f.name), f"{at}.{f.name}")
    elif isinstance(a, list):
        assert len(a) == len(b), at
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal_values(x, y, f"{at}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), at
        for key in a:
            assert_equal_values(a[key], b[key], f"{at}[{key!r}]")
    elif isinstance(a, float) and a != a:
        assert b != b, at
    else:
        assert a == b, (at, a, b)


def all_result_types() -> dict[str, type]:
    import importlib

    from mimi.core.results import _REGISTRY, _RESULT_MODULES

    for module in _RESULT_MODULES:
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items()))


NAN, INF = float("nan"), float("inf")
ARRAYS = [  # every kind of array a field may hold: NaN and infinities, float32, ints, bools, 0-d, empty, nested
    lambda: np.array([0.1, NAN, INF, -INF, -0.0, 1e-300]),
    lambda: np.array([[0.1, 1 / 3], [NAN, -INF]], dtype=np.float32),
    lambda: np.arange(6, dtype=np.int64).reshape(2, 3),
    lambda: np.array([True, False]),
    lambda: np.array(2.5),
    lambda: np.zeros((0, 3), dtype=np.float32),
    lambda: np.array(np.nan, dtype=np.float32),
    lambda: np.array([[[1, 2]], [[3, 4]]], dtype=np.uint8),
    lambda: np.zeros((2, 0), dtype=np.int32),
    lambda: np.array([1.5, 2.0], dtype=np.float16),
]


def sample_value(hint, index: int, with_optional: bool):
    """A value of type ``hint`` for a round trip (the ``index``-th field picks which array it holds)."""
    import torch

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)]
        return sample_value(inner[0], index, with_optional) if with_optional else None
    if hint is np.ndarray:
        return ARRAYS[index % len(ARRAYS)]()
    if hint is torch.Tensor:
        return [torch.tensor([[0.25, NAN]], dtype=torch.float32), torch.tensor([3, 1]), torch.tensor([True]),
                torch.zeros(0, 2, dtype=torch.float64)][index % 4]
    if isinstance(hint, type) and issubclass(hint, Result):
        kind = all_result_types()["Estimated"] if hint is Result else hint
        return sample_result(kind, with_optional)
    if hint is bool:
        return True
    if hint is int:
        return index
    if hint is float:
        return [0.1, NAN, INF, -INF][index % 4]
    if hint is str:
        return f"text / ~ {index}"
    if hint is tuple or origin is tuple:
        return (1, 2)
    if hint is list or origin is list:
        return [1.0, NAN, "x", None, [np.array([1, 2])]]
    if hint is dict or origin is dict:
        return {"a/b~c": np.array([1.5, NAN]), "nan": NAN, "n": 1, "nested": {"inf": -INF, "xs": [0.5, None]},
                "none": None}
    raise AssertionError(f"no sample for {hint}")


def sample_result(kind: type, with_optional: bool = True) -> Result:
    hints = typing.get_type_hints(kind)
    return kind(**{f.name: sample_value(hints[f.name], i, with_optional)
                   for i, f in enumerate(dataclasses.fields(kind))})


@pytest.mark.parametrize("with_optional", [True, False], ids=["optional-set", "optional-none"])
@pytest.mark.parametrize("name", list(all_result_types()))
def test_every_result_type_round_trips_through_plain_json(name, with_optional, tmp_path):
    original = sample_result(all_result_types()[name], with_optional)
    path = tmp_path / "r.json"
    text = original.to_json(path)
    back = load_result(path)
    assert type(back) is type(original)
    assert_equal_values(original, back)
    assert back.to_json() == text                       # writing what was read gives the same file
    data = strict_json(text)                            # valid JSON: no NaN / Infinity literals
    assert data["schema"] == SCHEMA and data["__result__"] == name
    assert "__ndarray__" not in text
    # every array is a plain list (or its number when 0-d) of the recorded shape; its dtype is in "dtypes"
    for field in dataclasses.fields(original):
        value = getattr(original, field.name)
        if isinstance(value, np.ndarray) or hasattr(value, "detach"):
            spec = data["dtypes"]["/" + field.name]
            assert spec["shape"] == list(value.shape) and spec["dtype"] == str(value.dtype).replace("torch.", "")
            assert spec.get("tensor", False) == hasattr(value, "detach")
            assert np.asarray(data[field.name], dtype=object).shape == tuple(value.shape) or 0 in value.shape
    # and files of the first layout still read, to the same values
    old = Result.from_json(json.dumps(old_layout(original)))
    assert_equal_values(original, old)


def test_the_plain_layout_reads_with_jq_and_without_mimi():
    from mimi.analysis import ImageValues

    values = ImageValues(v_full=NAN, v_empty=-INF, phi0_sum=None,
                         probabilities=np.array([0.1, 0.7, NAN, INF], dtype=np.float32))
    text = Contrast(Estimated(np.array([[1.0, 2.0]]), np.array([[0.5, NAN]])), None, None).to_json()
    data = strict_json(text)
    assert list(data)[:2] == ["schema", "__result__"] and data["clean"]["mean"] == [[1.0, 2.0]]
    assert data["clean"]["se"] == [[0.5, None]] and data["adversarial"] is None
    assert data["dtypes"] == {"/clean/mean": {"dtype": "float64", "shape": [1, 2]},
                              "/clean/se": {"dtype": "float64", "shape": [1, 2]}}
    data = strict_json(values.to_json())
    # float32 in its shortest exact form; NaN as null, infinities as strings (JSON has neither)
    assert data["probabilities"] == [0.1, 0.7, None, "Infinity"]
    assert data["v_full"] is None and data["v_empty"] == "-Infinity" and data["phi0_sum"] is None
    assert data["dtypes"] == {"/v_full": {"dtype": "float"}, "/v_empty": {"dtype": "float"},
                              "/probabilities": {"dtype": "float32", "shape": [4]}}
    back = Result.from_json(values.to_json())
    assert np.isnan(back.v_full) and back.v_empty == -INF and back.phi0_sum is None
    assert back.probabilities.dtype == np.float32 and back.probabilities[0] == np.float32(0.1)
    jq = shutil.which("jq")
    if jq:
        out = subprocess.run([jq, "-c", ".probabilities"], input=values.to_json(), capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0 and out.stdout.strip() == '[0.1,0.7,null,"Infinity"]'


def test_newer_or_foreign_schemas_and_broken_dtypes_are_refused_with_the_reason():
    text = Estimated(np.zeros(2), np.ones(2)).to_json()
    data = json.loads(text)
    with pytest.raises(ValueError, match="newer than this mimi reads"):
        Result.from_dict({**data, "schema": "mimi.result/99"})
    with pytest.raises(ValueError, match="not a mimi result file"):
        Result.from_dict({**data, "schema": "something-else"})
    with pytest.raises(ValueError, match="dtypes names /missing"):
        Result.from_dict({**data, "dtypes": {**data["dtypes"], "/missing": {"dtype": "float64", "shape": [1]}}})
    with pytest.raises(ValueError):
        Result.from_dict({**data, "dtypes": {"/mean": {"dtype": "float64", "shape": [3]}}})   # 2 values, not 3
    assert data == json.loads(text)   # reading leaves the dict as it was


def test_a_result_with_a_field_named_like_a_reserved_key_is_refused():
    @dataclasses.dataclass
    class Schemed(Result):
        schema: int

    with pytest.raises(TypeError, match="field named 'schema'"):
        Schemed(1).to_json()


SHIPPED = sorted([*ASSETS_DIR.glob("defenses/*/*.json"), *ASSETS_DIR.glob("population/*.json"),
                  ASSETS_DIR / "study" / "study.json", *ASSETS_DIR.glob("study/jobs/*.json")])


def test_shipped_result_files_are_in_the_current_layout_and_rewrite_to_the_same_bytes():
    assert len(SHIPPED) > 1000
    for path in SHIPPED:
        text = path.read_text()
        assert json.loads(text)["schema"] == SCHEMA, path
        assert load_result(path).to_json() == text, path


def test_shipped_precomputed_results_still_read_and_rewrite_the_same():
    from mimi.core import store as precomputed

    files = sorted((ASSETS_DIR / "precomputed").glob("*/*.json.gz"))[:30]
    if not files:
        pytest.skip("no precomputed store shipped")
    for path in files:
        value = precomputed.decode(path.name[: -len(".json.gz")], path.read_bytes())
        if isinstance(value, Result):
            assert_equal_values(value, Result.from_json(value.to_json()), path.name)


def test_mimi_analyze_json_holds_plain_lists_and_the_schema(tmp_path):
    import torch

    from mimi.models import zoo
    from mimi.models.networks import SmallCNN

    torch.manual_seed(0)
    zoo.save(SmallCNN(), {"name": "tiny", "architecture": "small-cnn", "arch_kwargs": {},
                          "classes": ["c%d" % i for i in range(10)], "training": {"recipe": "none"}}, tmp_path / "zoo")
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "-m", "mimi", "analyze", "--model", "tiny", "--zoo-dir", str(tmp_path / "zoo"),
                          "--image", "gallery:0", "--grid", "4x4", "--ratios", "0.2,0.8", "--samples", "2",
                          "--pair-count", "4", "--shapley-samples", "2", "--quiet", "--json", str(out)],
                         capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])
    assert run.returncode == 0, run.stderr
    data = strict_json(out.read_text())
    assert data["schema"] == SCHEMA and data["__result__"] == "ImageReport"
    probabilities = data["probabilities"]
    assert isinstance(probabilities, list) and len(probabilities) == 10
    assert all(isinstance(p, float) for p in probabilities) and sum(probabilities) == pytest.approx(1.0)
    report = load_result(out)
    assert isinstance(report.probabilities, np.ndarray) and report.probabilities.tolist() == probabilities
    assert report.probabilities.dtype == np.dtype(data["dtypes"]["/probabilities"]["dtype"])
    jq = shutil.which("jq")
    if jq:
        shown = subprocess.run([jq, "-c", ".probabilities", str(out)], capture_output=True, text=True, timeout=30)
        assert json.loads(shown.stdout) == probabilities
