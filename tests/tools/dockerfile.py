"""Read a Dockerfile and a .dockerignore the way Docker does, without a Docker engine.

Enough of both formats for the checks of tests/integration/test_chart.py:
instructions with their line continuations and stages, and .dockerignore
patterns with Docker's rules (in order, the last matching pattern wins, ``!``
re-includes, a pattern that matches a folder matches everything in it, ``**``
matches any number of folders).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, …
    arguments: str  # the rest, continuations joined
    line: int


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile, each with its instructions (comments dropped)."""
    stages: list[Stage] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are skipped by Docker
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        pending = ""
        instruction = Instruction(keyword.upper(), arguments.strip(), start)
        if instruction.keyword == "FROM":
            parts = instruction.arguments.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else ""
            stages.append(Stage(base=parts[0], name=name))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of an ENTRYPOINT/CMD; AssertionError for the shell form."""
    try:
        value = json.loads(instruction.arguments)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"line {instruction.line}: {instruction.keyword} must use the exec (JSON) form"
        ) from exc
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise AssertionError(f"line {instruction.line}: {instruction.keyword} is not a string list")
    return value


class DockerIgnore:
    """Docker's .dockerignore matching."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        self._reincluded: list[str] = []  # the patterns after "!"
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = line[1:].strip() if negated else line
            pattern = pattern.strip("/")
            if pattern:
                self.rules.append((negated, _compile(pattern)))
                if negated:
                    self._reincluded.append(pattern)

    def excluded(self, path: str) -> bool:
        """True when the file at path (relative, '/'-separated) stays out of the context."""
        parts = path.strip("/").split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negated, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                excluded = not negated
        return excluded

    def may_reinclude_below(self, folder: str) -> bool:
        """False when no "!" pattern can bring back a file under an excluded folder."""
        parts = folder.split("/")
        for pattern in self._reincluded:
            pattern_parts = pattern.split("/")
            for index, part in enumerate(parts):
                if index >= len(pattern_parts):
                    break
                if pattern_parts[index] == "**":
                    return True
                if not _compile(pattern_parts[index]).fullmatch(part):
                    break
            else:
                if len(pattern_parts) > len(parts):
                    return True
        return False


def _compile(pattern: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        elif pattern[index] == "[":
            end = pattern.find("]", index)
            if end == -1:
                out += re.escape("[")
                index += 1
            else:
                out += pattern[index : end + 1]
                index = end + 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out)


def copy_context(source: Path, destination: Path, ignore: DockerIgnore) -> list[str]:
    """Copy what Docker would send as the build context; the relative paths copied."""
    copied: list[str] = []
    for folder, subfolders, files in os.walk(source):
        base = Path(folder).relative_to(source).as_posix()
        prefix = "" if base == "." else f"{base}/"
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not ignore.excluded(prefix + name) or ignore.may_reinclude_below(prefix + name)
        )
        for name in sorted(files):
            relative = prefix + name
            path = Path(folder) / name
            if path.is_symlink() or ignore.excluded(relative):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied.append(relative)
    return copied
