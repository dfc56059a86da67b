"""The Kubernetes labels every rendered object carries: one place for models and functions.

``app.kubernetes.io/*`` are Kubernetes' recommended labels, so Argo CD, kubectl and
dashboards group the objects; the selector part is what Deployments and Services
match on and never changes while a folder lives (its name and stage).
"""

from __future__ import annotations

MANAGED_BY = "gitops-watcher"
#: Our own labels and annotations: ``gitops-watcher.io/stage`` …
ANNOTATION_PREFIX = "gitops-watcher.io"


def selector_labels(slug: str, stage: str) -> dict[str, str]:
    """What a workload's selector matches: stable for the folder's whole life."""
    return {"app.kubernetes.io/name": slug, "app.kubernetes.io/instance": f"{slug}-{stage}"}


def object_labels(
    slug: str, stage: str, *, version: str, component: str, part_of: str = ""
) -> dict[str, str]:
    """Every label of a rendered object: the selector's, then what it runs and who wrote it."""
    return {
        **selector_labels(slug, stage),
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": part_of or slug,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        f"{ANNOTATION_PREFIX}/stage": stage,
    }
