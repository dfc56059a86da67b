"""The process's garbage-collector thresholds, tuned for a large, long-lived heap.

A reconcile over 10,000 versions keeps about a million objects alive between
runs (the render caches, the last snapshot) and allocates a few hundred
thousand more per run. With CPython's default thresholds (700, 10, 10) that
run triggers two full collections, each walking the whole heap: 0.22 s of a
0.8 s no-op, measured in ``bench/reconcile.py``. Young collections every
20,000 allocations instead of 700 make the cyclic garbage of one run die young
and push full collections to about one in ten runs; memory stays bounded, since
full collections still happen, and reference counting frees everything acyclic
at once as before.
"""

from __future__ import annotations

import gc

#: (young, middle, old): see ``gc.set_threshold``.
THRESHOLDS = (20_000, 10, 10)


def tune_garbage_collector() -> None:
    """Apply :data:`THRESHOLDS` to this process (the CLI does it once at start)."""
    gc.set_threshold(*THRESHOLDS)
