"""bench/all stops at a benchmark that fails, with that benchmark's error and exit code.

Made to fail with an option no benchmark knows: each script's argument parser
refuses it at once, so nothing is measured.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_ALL = Path(__file__).resolve().parents[2] / "bench" / "all"


def test_a_failing_benchmark_stops_bench_all_with_its_error() -> None:
    run = subprocess.run(
        ["sh", str(BENCH_ALL), "--no-such-option"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr  # argparse's usage error
    assert "bench/all: bench/reconcile.py failed (exit code 2)" in run.stderr
    assert "unrecognized arguments: --no-such-option" in run.stderr
    assert "== bench/artifacts.py" not in run.stdout  # the rest did not run
    assert "Traceback" not in run.stderr and '"bench": "all"' not in run.stdout
