import subprocess
import sys

from mimi.evaluation import AccuracyResult


def test_any_result_file_reads_back_in_a_fresh_process(tmp_path):
    path = tmp_path / "acc.json"
    AccuracyResult("m", 10, 0.9, [0.1], [0.5]).to_json(path)
    code = ("from mimi.results import load_result; r = load_result(%r); "
            "print(type(r).__name__, r.robust_accuracy)" % str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["AccuracyResult", "[0.5]"]
