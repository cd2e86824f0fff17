"""scripts/bench/cpu_compile.py: one row trains through the real CLI and reports its rate; bad
arguments are refused before any work. No timing assertions (the numbers belong in docs/performance.md)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("cpu_compile", ROOT / "scripts" / "bench" / "cpu_compile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_eager_row_trains_through_the_cli_and_reports_a_rate():
    script = load_script()
    env, args = script.ROWS["eager (the engine's CPU default)"]
    row = script.run(env, args, steps=3, threads=1)
    assert "error" not in row, row
    assert row["images_per_s"] > 0 and row["seconds"] > 0 and 0 <= row["target_acc"] <= 100


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--repeat", "0"], ["--threads", "0"]])
def test_out_of_range_numbers_are_refused_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script().main(argv)
    assert exit_info.value.code == 2 and "at least 1" in capsys.readouterr().err
