"""Problems found in a spec or an overlay: each names its file and its field.

Parsing collects every problem instead of stopping at the first, so that
``gitops-watcher validate`` can print all of them at once. A spec with any
problem raises :class:`SpecError`, a PermanentError: the daemon keeps the last
good deployment of that function and reports what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from watcher.core.names import describe
from watcher.errors import PermanentError


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one field of one file."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field or '(file)'}: {self.message}"


class SpecError(PermanentError):
    """A function spec or overlay cannot be deployed; carries every problem found."""

    def __init__(self, problems: Iterable[Problem], *, hint: str = "") -> None:
        self.problems = tuple(sorted(set(problems)))
        text = "; ".join(str(p) for p in self.problems[:5])
        if len(self.problems) > 5:
            text += f"; and {len(self.problems) - 5} more"
        super().__init__(
            text or "invalid function spec",
            hint=hint or "run 'gitops-watcher validate' on the spec folder for every problem",
        )


class Problems:
    """Collects problems for one file, with typed getters that record wrong types."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.found: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        self.found.append(Problem(self.file, field, message))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.found.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.found)

    def raise_if_any(self) -> None:
        if self.found:
            raise SpecError(self.found)

    # -- typed getters: a wrong type is a problem, and a neutral value is returned ------

    def mapping(self, data: Mapping[str, Any], key: str, field: str) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.add(field, f"must be a mapping, not {type_name(value)}")
            return {}
        return {str(k): v for k, v in value.items()}

    def sequence(self, data: Mapping[str, Any], key: str, field: str) -> list[Any]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(field, f"must be a list, not {type_name(value)}")
            return []
        return value

    def string(self, data: Mapping[str, Any], key: str, field: str, default: str = "") -> str:
        value = data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.add(field, f"must be a string, not {type_name(value)}")
            return default
        return value

    def strings(self, data: Mapping[str, Any], key: str, field: str) -> tuple[str, ...]:
        out: list[str] = []
        for index, item in enumerate(self.sequence(data, key, field)):
            if isinstance(item, str | int | float) and not isinstance(item, bool):
                out.append(str(item))
            else:
                self.add(f"{field}[{index}]", f"must be a string, not {type_name(item)}")
        return tuple(out)

    def boolean(self, data: Mapping[str, Any], key: str, field: str, default: bool) -> bool:
        value = data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(field, f"must be true or false, not {describe(str(value), 40)}")
            return default
        return value

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        field: str,
        default: int | None,
        minimum: int = 0,
        maximum: int = 2**31 - 1,
    ) -> int | None:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, f"must be a whole number, not {describe(str(value), 40)}")
            return default
        if not minimum <= value <= maximum:
            self.add(field, f"must be between {minimum} and {maximum}, not {value}")
            return default
        return value


def type_name(value: object) -> str:
    """How a YAML reader would call a value's type."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if value is None:
        return "null"
    return type(value).__name__
