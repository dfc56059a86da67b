"""What every settings group shares: frozen models that refuse unknown keys, and name rules."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from watcher.core.names import is_dns_label
from watcher.core.overrides import is_quantity


class Frozen(BaseModel):
    """A settings group: immutable once loaded; an unknown key is an error, never ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def check_dns_label(value: str, what: str) -> str:
    """One naming rule for stages, namespaces and sources: the core's DNS-1035 label."""
    if not is_dns_label(value):
        raise ValueError(
            f"{what} {value[:80]!r} must be a Kubernetes DNS label: lowercase letters, digits "
            "and '-', starting with a letter, at most 63 characters"
        )
    return value


def check_quantity(value: str | None, what: str) -> str | None:
    """Resource amounts are checked as strictly as the ``deploy.*`` tags that override them."""
    if value is None:
        return None
    text = value.strip()
    if not is_quantity(text):
        raise ValueError(
            f"{what} {value[:40]!r} is not a Kubernetes quantity such as 500m, 2 or 4Gi"
        )
    return text
