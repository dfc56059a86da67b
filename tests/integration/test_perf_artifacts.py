"""The no-op check of many verified copies runs side by side and still sees tampering.

Rule (docs/performance.md): every reconcile that needs a copy reads its manifest
and HEADs every file of it, for all copies at once (up to 8 versions in
parallel). Nothing is skipped on trust, so an object deleted or overwritten in
the bucket is found by the very next reconcile and sent again, alone.
"""

from __future__ import annotations

import pytest

from tests.integration.test_artifacts_s3 import Stack, register, stack, write_model  # noqa: F401
from watcher.config.settings import Credentials, Settings
from watcher.core.names import model_slug
from watcher.wiring import build_reconciler

pytestmark = pytest.mark.slow


def test_many_copies_are_checked_together_and_a_tampered_one_is_sent_again(
    stack: Stack,  # noqa: F811
) -> None:
    client = stack.mlflow.client()
    names, sizes = [], {}
    for index in range(6):
        name = stack.names(f"m{index}")
        files = write_model(stack.tmp / f"model{index}", {"w.bin": 1000 + index})
        version = register(stack.mlflow, name, stack.tmp / f"model{index}")
        client.set_registered_model_alias(name, "champion", version)
        names.append((name, version))
        sizes[name] = files
    with build_reconciler(Settings.model_validate(stack.settings()), Credentials()) as rec:
        first = rec.reconcile()
        assert first.ok and len(first.applied) == 6
        again = rec.reconcile()
        assert again.ok and not again.applied
        assert again.artifacts.bytes_sent == 0
        assert again.artifacts.files_already_there == sum(len(f) for f in sizes.values())

        s3 = stack.s3.client()
        (gone, gone_v), (bad, bad_v) = names[1], names[4]
        s3.delete_object(Bucket=stack.bucket, Key=f"models/{model_slug(gone)}/{gone_v}/model/w.bin")
        s3.put_object(
            Bucket=stack.bucket,
            Key=f"models/{model_slug(bad)}/{bad_v}/model/MLmodel",
            Body=b"tampered",
        )
        healed = rec.reconcile()
        assert healed.ok and not healed.applied  # same bytes again: the same commit stands
        assert healed.artifacts.files_sent == 2
        assert healed.artifacts.bytes_sent == len(sizes[gone]["w.bin"]) + len(sizes[bad]["MLmodel"])
        body = s3.get_object(
            Bucket=stack.bucket, Key=f"models/{model_slug(bad)}/{bad_v}/model/MLmodel"
        )["Body"].read()
        assert body == sizes[bad]["MLmodel"]
        assert rec.reconcile().artifacts.bytes_sent == 0
