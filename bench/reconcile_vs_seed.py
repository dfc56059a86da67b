"""Benchmark: one reconcile of gitops-watcher against the seed watcher's approach.

The seed watcher re-rendered every model on every registry event, then ran
`git add -A`, `git commit` and `git push` whatever had changed. We plan
against git and touch only changed folders. Both run side by side here on the
same snapshot, the same templates and real bare git remotes on this machine.

The registry is a fixed in-memory snapshot (the benchmark measures the
decide/render/git path, not MLflow). Usage:

    python bench/reconcile_vs_seed.py [--models 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from watcher.adapters.git_repo import GitOpsRepo
from watcher.adapters.templates import template_loader
from watcher.config.settings import Credentials, Settings
from watcher.core.desired import decide
from watcher.core.model import ModelVersion, RegisteredModel, RegistrySnapshot
from watcher.core.render import make_environment, render_all
from watcher.reconciler import Reconciler


class FixedRegistry:
    """A registry whose snapshot the benchmark sets directly."""

    def __init__(self, snapshot: RegistrySnapshot) -> None:
        self.current = snapshot

    def snapshot(self) -> RegistrySnapshot:
        return self.current


def make_snapshot(models: int, staging_version: int) -> RegistrySnapshot:
    entries = []
    for index in range(models):
        name = f"model-{index:04d}"
        staged = staging_version if index == 0 else 2
        versions = tuple(
            ModelVersion(name=name, version=str(v), run_id=f"run{v}", source=f"s3://b/{name}/{v}")
            for v in range(1, staged + 1)
        )
        entries.append(
            RegisteredModel(
                name=name, versions=versions, aliases={"champion": "1", "staging": str(staged)}
            )
        )
    return RegistrySnapshot(models=tuple(entries), ui_url="http://mlflow.example")


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=False, capture_output=True)


def seed_style_reconcile(settings: Settings, snapshot: RegistrySnapshot, checkout: Path) -> None:
    """The baseline: render everything into the checkout, then add, commit and push."""
    state = decide(snapshot, settings.stages, settings.registry.models)
    env = make_environment(template_loader())
    rendered, _ = render_all(env, state.deployments, snapshot.ui_url, None)
    for folder, files in rendered.items():
        for name, data in files.items():
            path = checkout / "deployments" / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    git("add", "-A", cwd=checkout)
    git("-c", "user.name=seed", "-c", "user.email=seed@x", "commit", "-qm", "update", cwd=checkout)
    git("push", "-q", "origin", "HEAD:main", cwd=checkout)


def timed(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("ours.git", "seed.git"):
            subprocess.run(
                ["git", "init", "-q", "--bare", "-b", "main", str(root / name)], check=True
            )
        settings = Settings.model_validate(
            {"state_dir": str(root / "state"), "git": {"repo_url": str(root / "ours.git")}}
        )
        registry = FixedRegistry(make_snapshot(args.models, 2))
        reconciler = Reconciler(
            settings,
            registry,
            GitOpsRepo(settings.git, settings.checkout_path, Credentials()),
            make_environment(template_loader()),
        )
        seed_checkout = root / "seed-checkout"
        subprocess.run(
            ["git", "clone", "-q", str(root / "seed.git"), str(seed_checkout)], check=True
        )

        first_ours = timed(lambda: reconciler.reconcile(), 1)
        first_seed = timed(
            lambda: seed_style_reconcile(settings, registry.current, seed_checkout), 1
        )
        noop_ours = timed(lambda: reconciler.reconcile(), args.repeat)
        noop_seed = timed(
            lambda: seed_style_reconcile(settings, registry.current, seed_checkout), args.repeat
        )
        changes = iter(range(3, 3 + args.repeat * 2))

        def one_change_ours() -> None:
            registry.current = make_snapshot(args.models, next(changes))
            reconciler.reconcile()

        def one_change_seed() -> None:
            registry.current = make_snapshot(args.models, next(changes))
            seed_style_reconcile(settings, registry.current, seed_checkout)

        change_ours = timed(one_change_ours, args.repeat)
        change_seed = timed(one_change_seed, args.repeat)

    deployments = args.models * 2
    print(f"{args.models} models, {deployments} deployments; median of {args.repeat} runs")
    print(f"{'case':34} {'gitops-watcher':>15} {'seed-style':>12} {'ratio':>7}")
    rows = [
        ("first reconcile (all new)", first_ours, first_seed),
        ("unchanged registry (no-op)", noop_ours, noop_seed),
        ("one alias moved", change_ours, change_seed),
    ]
    for label, ours, seed in rows:
        print(f"{label:34} {ours * 1000:13.0f}ms {seed * 1000:10.0f}ms {ours / seed:6.2f}x")
    print("first reconcile: ours makes one commit per deployment, the seed one commit in all.")
    print("no-op: ours makes no commit and no push; the seed rewrites every file and pushes.")


if __name__ == "__main__":
    main()
