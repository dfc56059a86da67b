"""Rules that decide whether a name, an image or a python version may be deployed."""

from __future__ import annotations

import re

from watcher.core.functions.problems import Problems
from watcher.core.names import check_path_segment, describe, model_slug
from watcher.errors import InvalidNameError

#: DigitalHub's python versions; each maps to the official python image of that version.
PYTHON_VERSIONS = {f"PYTHON3_{minor}": f"3.{minor}" for minor in range(9, 14)}
_IMAGE = re.compile(
    r"^(?P<repo>[a-z0-9]+([._/:-][a-z0-9]+)*?)(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)

#: A Kubernetes label value: at most 63 characters, alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def project_label(problems: Problems, project: str, field: str) -> str:
    """The project, which becomes the ``app.kubernetes.io/part-of`` label: a value the
    API server would refuse at sync time is reported now, against the spec."""
    if not _LABEL_VALUE.fullmatch(project):
        problems.add(
            field,
            f"{describe(project)} is not a Kubernetes label value (app.kubernetes.io/part-of): "
            "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter "
            "or digit",
        )
        return ""
    return project


def function_slug(problems: Problems, name: str, field: str) -> str:
    """The Kubernetes name and folder of a function (``model_slug`` rules); '' if unusable."""
    if not name.strip():
        problems.add(field, "is empty; a function needs a name")
        return ""
    if any(ord(c) < 0x20 for c in name) or len(name) > 253:
        problems.add(field, f"{describe(name)} is not a usable name")
        return ""
    try:
        check_path_segment(name, "function name")
        return model_slug(name)
    except InvalidNameError as exc:
        problems.add(field, f"{describe(name)} is not a safe Kubernetes name or folder: {exc}")
        return ""


def split_image(image: str) -> tuple[str, str, str] | None:
    """(repository, tag, digest) of an image reference, or None when it is not one."""
    match = _IMAGE.match(image)
    if not match:
        return None
    repo = match.group("repo")
    tag = match.group("tag") or ""
    # "host:5000/repo" is a registry port, not a tag.
    if ":" in repo:
        return None
    return repo, tag, match.group("digest") or ""


def check_image(
    problems: Problems, image: str, field: str, production: bool, registry_prefix: str
) -> None:
    """Production pins images: a tag other than ``latest`` (or a digest), from the prefix."""
    parts = split_image(_without_port(image))
    if parts is None:
        problems.add(field, f"{describe(image)} is not an image reference")
        return
    _repo, tag, digest = parts
    if production and not digest and (not tag or tag == "latest"):
        problems.add(
            field,
            f"{describe(image)} is {'untagged' if not tag else 'tagged latest'}; production "
            "pins an image tag (set image_tag or image in the overlay)",
        )
    if registry_prefix and production and not image.startswith(registry_prefix):
        problems.add(field, f"{describe(image)} is not from the allowed registry {registry_prefix}")


def _without_port(image: str) -> str:
    """Drop a registry port (``host:5000/``) so the tag check sees only the tag."""
    head, sep, rest = image.partition("/")
    if sep and ":" in head and ("." in head or head.startswith("localhost")):
        return f"{head.split(':', 1)[0]}{sep}{rest}"
    return image


def with_tag(image: str, tag: str) -> str:
    """The image with its tag replaced (a digest is dropped: the tag is what was asked for)."""
    base = image.split("@", 1)[0]
    head, sep, last = base.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}{sep}{last}:{tag}"


def python_version(problems: Problems, value: str, field: str) -> str:
    """``PYTHON3_10`` → ``3.10``; anything else is a problem."""
    if value in PYTHON_VERSIONS:
        return PYTHON_VERSIONS[value]
    problems.add(
        field,
        f"{describe(value, 40)} is not supported; use one of {', '.join(PYTHON_VERSIONS)}",
    )
    return ""
