"""What a stage asks of a version before it runs there: its promotion rules, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from watcher.core.policy.gates import Gate

Contract = Literal["strict", "warn", "off"]


@dataclass(frozen=True)
class PromotionRules:
    """Rules of one (source, stage): empty for a source or stage that sets none."""

    gates: tuple[Gate, ...] = ()
    #: The serving contract: refuse (``strict``), note (``warn``) or ignore breaking changes.
    contract: Contract = "off"
    #: The stage a version must have run in first (in the same source), and for how long.
    after: str = ""
    soak_seconds: float = 0.0
    #: The tag that waives the gates for this version ("" when none does).
    waived_by: str = ""

    @property
    def needs_evidence(self) -> bool:
        """Whether deciding needs the version's metrics or signature (I/O)."""
        return bool(self.gates and not self.waived_by) or self.contract != "off"
