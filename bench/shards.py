"""Benchmark: 3 shard daemons over one registry, one GitOps remote, a burst of promotions.

A real MLflow server (SQLite backend, webhooks enabled) holding ``--versions``
versions (10,000: 2,000 models, 4,000 deployments) seeded as ``bench/reconcile.py``
does, in three name groups ``shard0-*``, ``shard1-*``, ``shard2-*``. Two phases on
one bare remote, and a third for comparison:

- ``single``: one daemon (``python -m watcher run``, REST, webhooks) selecting all
  three groups imports the registry, then takes a burst of ``--promotions``
  promotions (``@staging`` moved to another version with ``MlflowClient``, one
  every ``--gap`` seconds, round robin over the groups, each model once);
- ``shards``: that daemon stopped, three daemons, each selecting one group
  (disjoint ``registry.models.include``, own state folder, one webhook each), start
  on the same remote and take a burst of as many promotions on other models;
- ``apart``: the same three shards, each pushing to a remote of its own (no race for
  a branch), take a burst of as many promotions on other models again: what three
  daemons on this machine cost without the race (a figure, not a target).

``single`` and ``shards`` take ``--rounds`` bursts each (default 2), in turn and in
swapped order (single, shards, shards, single): this machine's speed drifts within
minutes, and the target compares the two. Each side's promotions are pooled; each
round's p50 is printed beside them.

A thread polls each remote's ``main`` every 5 ms; a commit lands when ``main`` first
contains it. Afterwards every commit of the burst is read back: each promoted
(model, stage) must be changed by exactly one commit, no commit may change anything
else or more than one folder, and each promoted folder's ``promotion.json`` must
name the new version. A promotion's latency runs from its ``MlflowClient`` call's
return to its commit landing.

    python bench/shards.py [--quick] [--versions 10000] [--promotions 100] [--gap 0.1]
                           [--rounds 2] [--keep]

Prints a table; the last line is one JSON object with the figures and the targets met.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from landing import RefWatch, folders_of_commit, git  # noqa: E402
from latency import bare, ref, summary  # noqa: E402
from reconcile import seed  # noqa: E402

from tests.servers.mlflow_server import MlflowServer, stop_mlflow_server  # noqa: E402
from tests.servers.mlflow_webhook import (  # noqa: E402
    WEBHOOK_EVENTS,
    DaemonProcess,
    start_daemon,
    start_webhook_mlflow_server,
)

SHARDS = 3
GROUPS = [f"shard{index}" for index in range(SHARDS)]
MODEL_NAME = re.compile(r"shard\d-\d{5}")
#: The seeded @staging is on v5 (bench/reconcile.py's seed); a promotion moves it here.
PROMOTED_TO = "4"


def config(server: MlflowServer, remote: Path, state: Path, groups: list[str]) -> dict[str, Any]:
    return {
        "state_dir": str(state),
        "registry": {
            "tracking_uri": server.url,
            "models": {"include": [f"{group}-*" for group in groups]},
        },
        # The default push retries (git.push_attempts, git.push_backoff_seconds), as users run.
        "git": {"repo_url": str(remote)},
        "artifacts": {"store": "none"},
    }


def start_all(
    server: MlflowServer, remotes: list[Path], work: Path, phase: str, secret: str, label: str
) -> list[DaemonProcess]:
    """The phase's daemons (the one for all groups, or one per group, each pushing to
    its entry of ``remotes``), each done with its startup reconcile."""
    layouts = [GROUPS] if phase == "single" else [[group] for group in GROUPS]
    env = {"GITOPS_WATCHER_WEBHOOK_SECRET": secret}
    daemons = []
    try:
        for index, groups in enumerate(layouts):
            where = work / f"{label}-{index}"
            settings = config(server, remotes[index], where / "state", groups)
            daemons.append(start_daemon(where, settings, {}, env))
        for daemon in daemons:
            daemon.wait_for(
                "the startup reconcile",
                lambda d=daemon: d.status().get("last_success_at") is not None,
                timeout=1800,
            )
    except BaseException:
        for daemon in daemons:
            daemon.kill()
        raise
    return daemons


def burst(
    server: MlflowServer, remotes: list[Path], models: list[str], gap: float, timeout: float
) -> tuple[dict[str, float], dict[Path, dict[str, float]]]:
    """Promote each model once, ``gap`` seconds apart, while watching the remotes; when
    each promotion's call returned, and (by remote) when each commit landed."""
    client = server.client()
    before = {remote: ref(remote) for remote in remotes}
    written: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        watches = {remote: stack.enter_context(RefWatch(remote)) for remote in before}
        for model in models:
            client.set_registered_model_alias(model, "staging", PROMOTED_TO)
            written[model] = time.perf_counter()
            time.sleep(gap)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            # Every promoted model's folder changed since ``before``: the burst is in.
            landed = "".join(git(r, "diff", "--name-only", at, "main") for r, at in before.items())
            if all(f"/{model}/staging/" in landed for model in models):
                break
            time.sleep(0.5)
        time.sleep(2.0)  # anything late (a duplicate) lands too
    return written, {remote: watch.landed() for remote, watch in watches.items()}


def check(
    remote: Path, models: list[str], written: dict[str, float], landed: dict[str, float]
) -> dict[str, Any]:
    """Read the burst's commits back: exactly once, nothing else, latencies per group."""
    touched: Counter[tuple[str, str]] = Counter()
    first_landed: dict[str, float] = {}
    multi = 0
    for sha, at in landed.items():
        folders = folders_of_commit(remote, sha, MODEL_NAME)
        multi += len(folders) != 1
        for model, stage in folders:
            touched[(model, stage)] += 1
            if stage == "staging" and model in written:
                first_landed[model] = min(first_landed.get(model, at), at)
    wanted = {(model, "staging") for model in models}
    right_version = 0
    for model in models:
        marker = git(remote, "show", f"main:{folder_of(remote, model)}/promotion.json")
        right_version += str(json.loads(marker).get("revision")) == PROMOTED_TO
    return {
        "commits": len(landed),
        "lost": sorted(m for m, _ in wanted if touched[(m, "staging")] == 0),
        "duplicated": sorted(f"{m}/{s}" for (m, s), n in touched.items() if n > 1),
        "unexpected": sorted(f"{m}/{s}" for (m, s) in touched if (m, s) not in wanted),
        "commits_with_several_folders": multi,
        "right_version": right_version,
        "latency": {model: at - written[model] for model, at in first_landed.items()},
    }


def check_each(
    homes: dict[Path, list[str]], written: dict[str, float], landed: dict[Path, dict[str, float]]
) -> dict[str, Any]:
    """``check`` on each remote with the models it holds, added up."""
    return added_up(
        [check(remote, models, written, landed[remote]) for remote, models in homes.items()]
    )


def added_up(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Outcomes of disjoint sets of models as one: counts and lists added, dicts merged."""
    total: dict[str, Any] = {}
    for outcome in outcomes:
        for key, value in outcome.items():
            if key not in total:
                total[key] = value
            elif isinstance(value, dict):
                total[key] = {**total[key], **value}
            else:
                total[key] = total[key] + value
    return total


_folders: dict[Path, dict[str, str]] = {}


def folder_of(remote: Path, model: str) -> str:
    """The path of a model's staging folder on the remote (``<git.path>/<model>/staging``)."""
    if remote not in _folders:
        found = _folders[remote] = {}
        for line in git(remote, "ls-tree", "-d", "-r", "--name-only", "main").splitlines():
            parts = line.split("/")
            if len(parts) >= 2 and parts[-1] == "staging" and MODEL_NAME.fullmatch(parts[-2]):
                found[parts[-2]] = line
    return _folders[remote][model]


def phase_figures(outcome: dict[str, Any], models: list[str]) -> dict[str, Any]:
    latency = outcome.pop("latency")
    figures: dict[str, Any] = {
        **outcome, "promotions": len(models),
        "exactly_once": not outcome["lost"] and not outcome["duplicated"]
        and not outcome["unexpected"] and outcome["commits"] == len(models)
        and not outcome["commits_with_several_folders"]
        and outcome["right_version"] == len(models),
    }  # fmt: skip
    samples = [latency[m] for m in models if m in latency]
    if samples:
        figures["all"] = summary(samples)
    for group in GROUPS:
        own = [latency[m] for m in models if m in latency and m.startswith(f"{group}-")]
        if own:
            figures[group] = summary(own)
    return figures


def run_phase(
    phase: str, server: MlflowServer, remotes: list[Path], work: Path, models: list[str],
    args: argparse.Namespace, label: str,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """One burst; ``remotes``: the remote each daemon pushes to (one per daemon). What
    ``check`` found, and what the daemons' logs say."""
    secret = secrets.token_hex(16)
    started = time.perf_counter()
    daemons = start_all(server, remotes, work, phase, secret, label)
    startup = time.perf_counter() - started
    client = server.client()
    hooks = []
    try:
        for daemon in daemons:
            hooks.append(client.create_webhook(
                name=f"bench-{secrets.token_hex(4)}", url=f"{daemon.url}/webhooks/mlflow",
                events=WEBHOOK_EVENTS, secret=secret,  # type: ignore[arg-type]
            ))  # fmt: skip
        time.sleep(2.5)  # MLflow caches its webhook list (1 s here)
        written, landed = burst(server, list(dict.fromkeys(remotes)), models, args.gap,
                                args.timeout)  # fmt: skip
        logs = [daemon.log() for daemon in daemons]
    finally:
        for hook in hooks:
            client.delete_webhook(hook.webhook_id)
        for daemon in daemons:
            daemon.stop(timeout=60)
    homes = {remote: models for remote in dict.fromkeys(remotes)}
    if len(homes) > 1:  # a remote per shard: each holds its own group's models
        homes = {
            r: [m for m in models if m.startswith(f"{g}-")]
            for r, g in zip(remotes, GROUPS, strict=True)
        }
    outcome = check_each(homes, written, landed)
    # From each daemon's log (start-up included): pushes rejected because another
    # writer pushed first (each is re-planned), and runs that gave up after the
    # publisher's attempts (each retried after the source's backoff).
    logged = {
        "startup_s": startup,
        "pushes_rejected": [log.count("push rejected (attempt") for log in logs],
        "runs_failed": [log.count("reconcile could not complete") for log in logs],
    }
    p50 = phase_figures(dict(outcome), models).get("all", {}).get("p50_s", float("nan"))
    print(f"{label}: p50 {p50:.3f} s", file=sys.stderr)
    return outcome, logged


def pooled(runs: list[tuple[list[str], dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """One phase's figures over its rounds: latencies pooled (each model is promoted in
    one round only), counts added, each round's p50 kept beside them."""
    models = [model for run_models, _outcome, _logged in runs for model in run_models]
    each = [phase_figures(dict(outcome), run_models) for run_models, outcome, _ in runs]
    figures = phase_figures(added_up([dict(outcome) for _m, outcome, _l in runs]), models)
    figures["rounds"] = [
        {key: round_[key]["p50_s"] for key in ("all", *GROUPS) if key in round_}
        for round_ in each
    ]
    figures["startup_s"] = [logged["startup_s"] for _m, _o, logged in runs]
    for key in ("pushes_rejected", "runs_failed"):
        per_round = [logged[key] for _m, _o, logged in runs]
        figures[key] = [sum(counts) for counts in zip(*per_round, strict=True)]
    return figures


def plan_models(versions: int, promotions: int, phases: int) -> list[list[str]]:
    """Disjoint lists of models (one per phase), round robin over the groups."""
    per_group = max(1, versions // SHARDS // 5)
    need = -(-promotions // SHARDS)
    if phases * need > per_group:
        raise SystemExit(f"{versions} versions give {per_group} models a group: too few for "
                         f"{phases} x {promotions} promotions")  # fmt: skip
    lists: list[list[str]] = [[] for _ in range(phases)]
    for which in range(phases):
        for index in range(promotions):
            group, step = index % SHARDS, index // SHARDS
            lists[which].append(f"{GROUPS[group]}-{which * need + step:05d}")
    return lists


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    server = start_webhook_mlflow_server(work / "mlflow")
    figures: dict[str, Any] = {"versions": args.versions, "gap_s": args.gap}
    try:
        assert server.db_path is not None
        for group in GROUPS:
            seed(server.db_path, args.versions // SHARDS, group)
        lists = plan_models(args.versions, args.promotions, 2 * args.rounds + 1)
        remote = bare(work / "remote.git")
        homes = {"single": [remote], "shards": [remote] * SHARDS}
        runs: dict[str, list[tuple[list[str], dict[str, Any], dict[str, Any]]]] = {
            "single": [], "shards": [],
        }  # fmt: skip
        # Rounds in turn, the order swapped each round (single, shards, shards, single):
        # this machine's speed drifts within minutes, and the comparison is between them.
        for index in range(args.rounds):
            order = ("single", "shards") if index % 2 == 0 else ("shards", "single")
            for phase in order:
                models = lists.pop(0)
                outcome, logged = run_phase(phase, server, homes[phase], work, models, args,
                                            f"{phase}-{index + 1}")  # fmt: skip
                runs[phase].append((models, outcome, logged))
        figures["single"] = pooled(runs["single"])
        figures["shards"] = pooled(runs["shards"])
        own = [bare(work / f"apart-{index}.git") for index in range(SHARDS)]
        models = lists.pop(0)
        figures["apart"] = pooled(
            [(models, *run_phase("apart", server, own, work, models, args, "apart"))]
        )
    finally:
        stop_mlflow_server(server)
        if args.keep:
            print(f"kept {work} (daemon logs in */daemon.log)", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return figures


def targets(f: dict[str, Any]) -> dict[str, bool]:
    single = f["single"].get("all", {}).get("p50_s", float("inf"))
    shards = [f["shards"].get(group, {}).get("p50_s", float("inf")) for group in GROUPS]
    return {
        "single_every_promotion_exactly_once": f["single"]["exactly_once"],
        "shards_every_promotion_exactly_once": f["shards"]["exactly_once"],
        "each_shard_p50_within_1_5x_single": all(p <= 1.5 * single for p in shards),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 versions, 30 promotions")
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--promotions", type=int, default=100, help="per phase")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between promotions")
    parser.add_argument("--timeout", type=float, default=300.0, help="for a burst to land")
    parser.add_argument("--rounds", type=int, default=None,
                        help="bursts for one daemon and for the shards, taken in turn "
                        "(default 2; 1 with --quick)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    if args.quick:
        args.versions, args.promotions = 600, 30
    if args.rounds is None:
        args.rounds = 1 if args.quick else 2
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    f = run(args)
    met = targets(f)
    print(f"{f['versions']} versions in {SHARDS} groups; bursts of {args.promotions} "
          f"promotions, one every {args.gap:g} s")  # fmt: skip
    print(f"{'daemons':<28} {'n':>3} {'p50':>8} {'p95':>8} {'commits':>8} {'exactly once':>13}")
    labels = (("single", "one daemon, all groups"), ("shards", "3 shards, one remote"),
              ("apart", "3 shards, a remote each"))  # fmt: skip
    for phase, label in labels:
        row = f[phase]
        rows = [("all", label)] + [(g, f"  shard {g}-*") for g in GROUPS if phase != "single"]
        for key, name in rows:
            s = row.get(key, {"n": 0, "p50_s": float("nan"), "p95_s": float("nan")})
            extra = f" {row['commits']:>8} {row['exactly_once']!s:>13}" if key == "all" else ""
            print(f"{name:<28} {s['n']:>3} {s['p50_s']:>7.3f}s {s['p95_s']:>7.3f}s{extra}")
    for phase in ("single", "shards"):
        rounds = "; ".join(
            ", ".join(f"{key} {p50:.3f}s" for key, p50 in each.items())
            for each in f[phase]["rounds"]
        )
        print(f"{phase}, p50 in each round: {rounds}")
    for phase, _label in labels:
        row = f[phase]
        print(f"{phase}: pushes rejected per daemon {row['pushes_rejected']}, runs that "
              f"could not complete {row['runs_failed']}")  # fmt: skip
        if not row["exactly_once"]:
            print(f"{phase}: lost {row['lost'][:5]}, duplicated {row['duplicated'][:5]}, "
                  f"unexpected {row['unexpected'][:5]}, right version {row['right_version']}")
    print("targets: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in met.items()))
    print(json.dumps({"bench": "shards", "quick": args.quick, "figures": f, "targets": met}))


if __name__ == "__main__":
    main()
