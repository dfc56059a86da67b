"""Benchmark: copying one model version to S3, gitops-watcher against the seed's approach.

The seed watcher uploaded a model's files one after another with ``upload_file``
whenever ``MLmodel`` was missing in the bucket, and verified nothing. We hash
every file once, send only what differs, in parallel parts, verify each object
(size and ETag) and write a manifest. Both run side by side against a real
SeaweedFS S3 server on 127.0.0.1 (started and stopped here), on the same files.

Figures: the first copy; a no-op check when the copy is complete; and a
recovery after the manifest was lost (everything is there, nothing is sent).

    python bench/artifacts_vs_seed.py [--megabytes 200] [--files 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers.seaweedfs import S3Server, start_seaweedfs, stop_seaweedfs
from watcher.adapters.artifact_sources import SourceResolver
from watcher.adapters.s3_store import S3Store
from watcher.artifact_sync import ArtifactSync
from watcher.config.settings import S3Settings, SourceSettings
from watcher.core.model import ModelVersion


class NoLookups:
    """Path sources need no registry lookups."""

    def run_artifact_uri(self, run_id: str) -> str:
        raise AssertionError("not used")

    def logged_model_artifact_uri(self, model_id: str) -> str:
        raise AssertionError("not used")


def make_model(folder: Path, megabytes: int, files: int) -> None:
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    size = megabytes * 1024 * 1024 // files
    for index in range(files):
        with (folder / f"weights-{index}.bin").open("wb") as out:
            for _ in range(size // (1024 * 1024)):
                out.write(os.urandom(1024 * 1024))


def timed(action: Callable[[], object], repeat: int, reset: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        reset()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def empty_bucket(server: S3Server, bucket: str) -> None:
    client = server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = root / "mlruns" / "model"
        make_model(model, args.megabytes, args.files)
        server = start_seaweedfs(root / "s3")
        try:
            client = server.client()
            client.create_bucket(Bucket="ours")
            client.create_bucket(Bucket="seed")
            settings = S3Settings(
                bucket="ours", endpoint_url=server.endpoint_url, addressing_style="path"
            )
            sync = ArtifactSync(
                S3Store(settings, client),
                SourceResolver(
                    SourceSettings(local_roots=(str(root / "mlruns"),)),
                    NoLookups(),
                    proxy=None,
                    source_s3_client=None,
                ),
                prefix="models",
                staging_dir=root / "staging",
            )
            version = ModelVersion(name="bench", version="1", source=str(model))
            manifest_key = "models/bench/1/gitops-watcher-manifest.json"

            def seed_copy() -> None:
                try:
                    client.head_object(Bucket="seed", Key="bench/1/MLmodel")
                    return
                except client.exceptions.ClientError:
                    pass
                for path in sorted(model.iterdir()):
                    client.upload_file(str(path), "seed", f"bench/1/{path.name}")

            def ours() -> None:
                sync.ensure(version, "bench")

            first_seed = timed(seed_copy, args.repeat, lambda: empty_bucket(server, "seed"))
            first_ours = timed(ours, args.repeat, lambda: empty_bucket(server, "ours"))
            noop_seed = timed(seed_copy, args.repeat, lambda: None)
            noop_ours = timed(ours, args.repeat, lambda: None)
            recover_ours = timed(
                ours, args.repeat, lambda: client.delete_object(Bucket="ours", Key=manifest_key)
            )
        finally:
            stop_seaweedfs(server)

    print(f"model: {args.megabytes} MB in {args.files} files + MLmodel; median of {args.repeat}")
    print(f"{'':34}{'seed':>10}{'ours':>10}{'ours/seed':>11}")
    rows = [
        ("first copy (s)", first_seed, first_ours),
        ("no-op, copy complete (s)", noop_seed, noop_ours),
    ]
    for label, seed, our in rows:
        print(f"{label:34}{seed:10.3f}{our:10.3f}{our / seed:11.2f}")
    print(f"{'manifest lost, 0 bytes sent (s)':34}{'n/a':>10}{recover_ours:10.3f}")
    print(
        "ours also hashes every byte (SHA-256 + MD5 per part) and verifies every object; "
        "the seed verifies nothing"
    )


if __name__ == "__main__":
    main()
