"""Turning registry names into safe Kubernetes names and repo paths.

MLflow model names are free text ("Fraud Detector v2", "../etc", a 10 kB
string). Kubernetes names and folder names are not. A name that already is a
valid, short DNS-1035 label is used as it is, so ordinary names stay readable;
any other name is folded to one and given a hash of the original, so that two
different registry names can never land in the same folder. Folding
transliterates accented Latin letters (``Ünïcode Modèl`` → ``unicode-model-…``)
rather than dropping them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from watcher.errors import InvalidNameError

#: Longest slug, leaving room for "-<stage>" and suffixes inside a 63-character label.
MAX_SLUG_LENGTH = 40
_HASH_LENGTH = 8
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")
_UNSAFE_SEGMENTS = frozenset({"", ".", "..", ".git"})
#: Latin letters that Unicode does not decompose into a base letter and marks.
_LATIN_LETTERS = str.maketrans(
    {
        "\u00df": "ss",  # sharp s
        "\u00e6": "ae",
        "\u0153": "oe",
        "\u00f8": "o",  # o with stroke
        "\u0142": "l",  # l with stroke
        "\u0111": "d",  # d with stroke
        "\u00f0": "d",  # eth
        "\u00fe": "th",  # thorn
        "\u0131": "i",  # dotless i
        "\u0127": "h",  # h with stroke
        "\u014b": "ng",  # eng
        "\u0167": "t",  # t with stroke
    }
)


def is_dns_label(value: str, max_length: int = 63) -> bool:
    """True for a DNS-1035 label: lowercase letters, digits, '-', starting with a letter."""
    return len(value) <= max_length and bool(_DNS_1035_LABEL.match(value))


def model_slug(model_name: str) -> str:
    """The Kubernetes name and folder name used for a registered model."""
    if not model_name or not model_name.strip():
        raise InvalidNameError("a registered model has an empty name", hint="rename it in MLflow")
    if is_dns_label(model_name, MAX_SLUG_LENGTH):
        return model_name
    folded = _NOT_ALLOWED.sub("-", to_ascii(model_name.lower())).strip("-")
    if not folded:
        raise InvalidNameError(
            f"model name {describe(model_name)} has no letters or digits to build a Kubernetes "
            "name from",
            hint="rename the model in MLflow",
        )
    if not folded[0].isalpha():
        folded = f"m-{folded}"
    digest = hashlib.sha256(model_name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    head = folded[: MAX_SLUG_LENGTH - _HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def to_ascii(text: str) -> str:
    """Accented Latin letters as their base letters (``é`` → ``e``, ``ß`` → ``ss``).

    Other characters (other scripts, symbols) are kept as they are; folding
    drops what is still not ASCII.
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_LATIN_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def check_path_segment(value: str, what: str) -> str:
    """Refuse anything that could leave its folder when joined into a path."""
    if value in _UNSAFE_SEGMENTS or "/" in value or "\\" in value or "\x00" in value:
        raise InvalidNameError(f"{what} {describe(value)} cannot be used as a folder name")
    return value


def describe(value: str, limit: int = 80) -> str:
    """A short, single-line, quoted rendering of untrusted text for messages and logs."""
    shown = value if len(value) <= limit else f"{value[:limit]}…({len(value)} characters)"
    return repr(shown)


def join_folder(*parts: str) -> str:
    """A ``/``-joined folder of checked segments; empty parts (a source at the root) drop out."""
    segments = [segment for part in parts for segment in part.split("/") if part]
    for segment in segments:
        check_path_segment(segment, "folder name")
    return "/".join(segments)
