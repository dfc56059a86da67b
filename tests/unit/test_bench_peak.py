"""bench/reconcile.py measures a cold run's own peak memory, not the benchmark's.

The cold ``reconcile --once`` figure used to be the child's ``ru_maxrss``, which on
Linux carries the parent's peak over exec: 266 and 307 MB were the benchmark's own
heap. Here a parent holding 200 MB starts a child that allocates nothing: the peak
the benchmark reports must be the child's (tens of MB), not the parent's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"

PARENT = f"""
import sys
sys.path.insert(0, {str(BENCH)!r})
import reconcile
held = b"x" * (200 * 1024 * 1024)  # the parent's heap, touched (200 MB resident)
seconds, peak_mb = reconcile.peak_of("code = 0", [])
print(peak_mb)
"""


def test_a_child_reports_its_own_peak_not_its_parents() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PARENT], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    peak_mb = float(run.stdout.strip().splitlines()[-1])
    # An idle interpreter is about 10 MB; the parent's 200 MB must not show.
    assert 1 < peak_mb < 100, peak_mb
