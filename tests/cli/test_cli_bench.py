"""``captum-iterative bench`` (``cli.bench``): the one benchmark list, scripts and results."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from _helpers.cli import assert_one_line_error, run_cli


def test_bench_runs_scripts_with_passed_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripts = tmp_path / "benchmarks"
    scripts.mkdir()
    (scripts / "bench_loop.py").write_text(
        textwrap.dedent(
            """
            import json, sys
            print(json.dumps({"argv": sys.argv[1:], "images_per_s": 12.5}))
            """
        )
    )
    (scripts / "bench_inpaint.py").write_text("import sys\nprint('broken')\nsys.exit(3)\n")
    (scripts / "bench_synthetic.py").write_text("print('synthetic')\n")
    results = tmp_path / "results.json"
    code, stdout, err = run_cli(
        ["bench", "--benchmarks", scripts, "--out", results, "--", "--size", "64"], capsys
    )
    assert code == 1, err
    assert '"images_per_s": 12.5' in stdout and "failed: bench_inpaint.py" in stdout
    record = json.loads(results.read_text())
    loop, inpaint, synthetic = record["runs"]
    assert synthetic["stdout"] == "synthetic\n"
    assert json.loads(loop["stdout"]) == {"argv": ["--size", "64"], "images_per_s": 12.5}
    assert (loop["returncode"], inpaint["returncode"]) == (0, 3)
    assert inpaint["stdout"] == "broken\n"
    code, _, _ = run_cli(
        ["bench", "--benchmarks", scripts, "--suite", "loop", "--out", results], capsys
    )
    assert code == 0 and len(json.loads(results.read_text())["runs"]) == 1


def test_bench_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["bench", "--suite", "nope"], capsys)
    assert_one_line_error(code, err, "unknown benchmark(s) nope")
    code, _, err = run_cli(["bench", "--benchmarks", tmp_path], capsys)
    assert_one_line_error(code, err, "benchmark script(s) not found")


def test_the_one_benchmark_list_is_the_checkout_s_and_make_bench_s() -> None:
    """``captum-iterative bench`` finds ``benchmarks/`` from its module's depth, every listed
    script is there, and ``make bench`` runs this command rather than a list of its own."""
    from captum_iterative.cli import BENCHMARKS, BENCHMARKS_FOLDER

    checkout = Path(__file__).resolve().parents[2]
    assert BENCHMARKS_FOLDER == checkout / "benchmarks"
    assert all((BENCHMARKS_FOLDER / script).is_file() for script in BENCHMARKS.values())
    makefile = (checkout / "Makefile").read_text()
    bench = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    assert "-m captum_iterative bench" in bench
    assert not any(script in bench for script in BENCHMARKS.values())
