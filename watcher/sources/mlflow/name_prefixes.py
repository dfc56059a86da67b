"""A registry's rows worth reading: the literal prefixes of a source's include patterns."""

from __future__ import annotations

from collections.abc import Sequence


def include_prefixes(include: Sequence[str]) -> tuple[str, ...]:
    """The literal start of every include pattern; () when one of them has none.

    Sent as ``name LIKE 'prefix%'`` so a team's daemon on a shared registry reads
    its own rows, not every team's. LIKE is case-insensitive in SQLite and MySQL
    and exact in PostgreSQL, a superset of the case-sensitive globs either way;
    the globs still decide.
    """
    prefixes = []
    for pattern in include:
        cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=len(pattern))
        if cut == 0:
            return ()
        prefixes.append(pattern[:cut])
    return tuple(sorted(set(prefixes)))
