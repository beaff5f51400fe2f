"""The package's layout: every module under mimi/ has one job and stays readable, at most 450 lines."""

from pathlib import Path

MAX_LINES = 450
PACKAGE = Path(__file__).resolve().parent.parent / "mimi"


def test_no_module_under_mimi_exceeds_450_lines():
    sizes = {path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted(PACKAGE.rglob("*.py"))}
    assert sizes, f"no Python files under {PACKAGE}"
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not too_long, f"split these modules by job (at most {MAX_LINES} lines each): {too_long}"
