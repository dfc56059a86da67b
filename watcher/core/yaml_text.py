"""Quoting values for YAML so that no value can change a manifest's structure.

Templates may only insert values through the ``yaml`` filter; the Jinja
environment's ``finalize`` refuses anything else. Strings always become
double-quoted YAML scalars with every character that YAML could read as
structure or as a line break escaped, so a value holding newlines, quotes,
``---`` or ``{{ }}`` stays one inert string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\x00": "\\0",
}


class YamlText(str):
    """Text that is already valid YAML for the place it is inserted at."""

    __slots__ = ()


def quote_string(value: str) -> str:
    """A double-quoted YAML scalar that parses back to exactly ``value``."""
    out = ['"']
    for char in value:
        escaped = _ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif _is_plain_safe(char):
            out.append(char)
        else:
            code = ord(char)
            out.append(
                f"\\x{code:02x}"
                if code <= 0xFF
                else f"\\u{code:04x}"
                if code <= 0xFFFF
                else f"\\U{code:08x}"
            )
    out.append('"')
    return "".join(out)


def _is_plain_safe(char: str) -> bool:
    # Printable ASCII, and printable non-ASCII that YAML does not treat as a line
    # break, BOM or control character (U+0085, U+2028, U+2029, U+FEFF, surrogates).
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return True
    if code < 0xA0 or code in (0x2028, 0x2029, 0xFEFF) or 0xD800 <= code <= 0xDFFF:
        return False
    return char.isprintable()


def to_yaml(value: object, indent: int = 0) -> YamlText:
    """YAML for a scalar, or a block mapping/sequence indented by ``indent`` spaces.

    A non-empty block starts with a newline so that it can follow ``key:`` in a
    template (``labels: {{ labels | yaml(4) }}``); empty ones render as ``{}``/``[]``.
    """
    if isinstance(value, YamlText):
        return value
    if value is None:
        return YamlText("null")
    if isinstance(value, bool):
        return YamlText("true" if value else "false")
    if isinstance(value, int):
        return YamlText(str(value))
    if isinstance(value, float):
        return YamlText(repr(value))
    if isinstance(value, str):
        return YamlText(quote_string(value))
    if isinstance(value, Mapping):
        return _block_mapping(value, indent)
    if isinstance(value, Sequence):
        return _block_sequence(value, indent)
    raise TypeError(f"cannot render a {type(value).__name__} as YAML")


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9._/-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def _key(key: str) -> str:
    """Mapping keys stay plain where YAML reads them as the same string (most label keys)."""
    # fullmatch: ``$`` would also match before a trailing newline ("A\n" is no plain key).
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS:
        return key
    return quote_string(key)


def _block_mapping(value: Mapping[object, object], indent: int) -> YamlText:
    if not value:
        return YamlText("{}")
    pad = " " * indent
    lines = []
    for key in sorted(value, key=str):
        rendered = to_yaml(value[key], indent + 2)
        separator = "" if rendered.startswith("\n") else " "
        lines.append(f"\n{pad}{_key(str(key))}:{separator}{rendered}")
    return YamlText("".join(lines))


def _block_sequence(value: Sequence[object], indent: int) -> YamlText:
    if not value:
        return YamlText("[]")
    pad = " " * indent
    items = []
    for item in value:
        rendered = to_yaml(item, indent + 2)
        if isinstance(item, Mapping) and item:
            # A mapping inside a list: put its first key on the dash line.
            rendered = YamlText(rendered.lstrip("\n")[indent + 2 :]) if rendered else rendered
        items.append(f"\n{pad}- {rendered}")
    return YamlText("".join(items))
