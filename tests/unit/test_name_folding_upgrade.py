"""A deployment whose folder name changed with the new folding moves in one reconcile.

Before, non-ASCII letters were dropped when a name was folded (``Ünïcode Modèl``
→ ``n-code-mod-l-5497da07``); now they are transliterated (``unicode-model-…``,
the same hash). A folder written by the old version is owned by the same source
and release: the plan deploys the new folder and removes the old one in the same
plan, new first (a single removal is always within the mass-deletion limit) (docs/changelog.md).
"""

from __future__ import annotations

from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.releases import FunctionStage, build_releases
from watcher.core.plan import DesiredFolder, SourceScope, make_plan
from watcher.core.provenance import PROVENANCE, provenance_of

OLD_FOLDER = "functions/n-code-mod-l-5497da07/staging"
NEW_FOLDER = "functions/unicode-model-5497da07/staging"
SPEC = b"""\
kind: application
metadata: {name: "\xc3\x9cn\xc3\xafcode Mod\xc3\xa8l"}
spec: {image: "repo/app:1.0.0"}
"""


def test_a_folder_named_by_the_old_folding_moves_to_the_new_name() -> None:
    catalog = read_catalog({"app.yaml": SPEC})
    (release,), failures = build_releases(
        "functions", "functions", catalog, [FunctionStage("staging", "fs")]
    )
    assert not failures
    assert release.folder == NEW_FOLDER
    info = provenance_of(release, None)
    files = {"deployment.yaml": b"kind: Deployment\n", PROVENANCE: info.to_json()}
    wanted = {NEW_FOLDER: DesiredFolder(release, files, info)}
    current = {f"{OLD_FOLDER}/{name}": data for name, data in files.items()}
    scopes = {"functions": SourceScope("functions", frozenset({"function"}))}
    plan = make_plan(current, wanted, scopes, max_delete_fraction=0.5)
    assert [(c.folder, c.action) for c in plan.changes] == [
        (NEW_FOLDER, "deploy"),
        (OLD_FOLDER, "remove"),
    ]
    assert plan.blocked is None and not plan.problems
