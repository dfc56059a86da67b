"""What a pull request says: the commit subject as its title, and what a reviewer needs.

The body names the revision change, links both revisions in the registry, shows the
run, the metric and signature changes against the running version, the rendered
diff (cut short with a count), and the commit message with the copy, its digest
and the trailers. It is plain Markdown every forge renders, and
it stays under the smallest body limit of the three forges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watcher.core.diffs import folder_diff
from watcher.core.messages import one_line
from watcher.core.plan import Change
from watcher.core.provenance import Provenance

#: GitHub's limit is 65,536 characters; GitLab's and Gitea's are larger.
BODY_LIMIT = 60_000
#: Diff lines shown in all (each file's part is also cut to DIFF_LINES_PER_FILE).
DIFF_LINES = 300
LABEL = "gitops-watcher"


def labels(change: Change) -> tuple[str, ...]:
    """``gitops-watcher`` and ``stage:<stage>``, so teams can filter."""
    return (LABEL, f"stage:{change.provenance.stage}")


def title(change: Change) -> str:
    """The commit subject: ``update churn in production: v6 → v7``."""
    return change.subject


def body(change: Change, branch: str) -> str:
    """The description a reviewer reads before merging."""
    new, old = change.provenance, change.previous
    parts = [_headline(change), *_links(new, old if change.action != "remove" else None)]
    if change.notes:
        parts.append("### Model changes\n\n" + "\n".join(change.notes))
    diff = folder_diff(change)
    shown = diff[:DIFF_LINES]
    more = len(diff) - len(shown)
    parts.append(
        "### Rendered changes\n\n```diff\n"
        + "\n".join(shown)
        + "\n```"
        + (f"\n\n… and {more} more diff line(s)." if more else "")
    )
    message = _message_body(change)
    if message:
        parts.append(f"### Commit message\n\n```\n{message}\n```")
    parts.append(
        f"Opened by gitops-watcher from branch `{branch}`, which it force-pushes when the "
        "selection moves again. Merge (merge, squash or rebase) to deploy; close without "
        "merging to keep this revision out (a new revision opens a new pull request)."
    )
    text = "\n\n".join(parts) + "\n"
    if len(text) > BODY_LIMIT:
        text = text[: BODY_LIMIT - 80] + "\n```\n\n… cut short: the description was too long.\n"
    return text


def _message_body(change: Change) -> str:
    """The commit message below its subject, without the notes shown above it."""
    if "\n" not in change.message:
        return ""
    shown = set(change.notes)
    lines = change.message.split("\n", 1)[1].splitlines()
    return "\n".join(line for line in lines if line not in shown).strip()


def _headline(change: Change) -> str:
    new, old = change.provenance, change.previous
    what = f"{new.kind} **{one_line(new.name, 120)}** in stage **{new.stage}**"
    if change.action == "remove":
        return f"Removes {what} ({one_line(new.label, 40)}): nothing selects it any more."
    if old is None:
        return f"Deploys {what}: {one_line(new.label, 40)} (new in this stage)."
    if old.revision != new.revision:
        return f"Updates {what}: {one_line(old.label, 40)} → {one_line(new.label, 40)}."
    return f"Renders {what} ({one_line(new.label, 40)}) anew: same revision, new manifests."


def _links(new: Provenance, old: Provenance | None) -> list[str]:
    lines = []
    if new.url:
        lines.append(f"- {one_line(new.label, 40)}: {one_line(new.url)}")
    if old is not None and old.url and old.revision != new.revision:
        lines.append(f"- runs now: {one_line(old.label, 40)}: {one_line(old.url)}")
    model = _mapping(new.details.get("model"))
    if model.get("run_id"):
        lines.append(f"- run: `{one_line(str(model['run_id']), 80)}`")
    artifact = new.artifact
    if artifact:
        lines.append(
            f"- copy: `{one_line(str(artifact.get('uri', '')))}` "
            f"(digest `{one_line(str(artifact.get('digest', '')), 100)}`, "
            f"{artifact.get('files', 0)} files, {artifact.get('bytes', 0)} bytes)"
        )
    return ["\n".join(lines)] if lines else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def close_comment(reason: str) -> str:
    return f"Closed by gitops-watcher: {reason}"
