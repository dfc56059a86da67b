"""``-vv`` output can be pasted into a bug report: no S3 key id, no Authorization header.

A real reconcile that copies to SeaweedFS, with the S3 keys in a profile file
(so the masking cannot know them in advance and must recognise them by shape),
run at ``-vv`` and at ``-vvv``. At ``-vv`` botocore's debug log (which prints
each request's headers, the SigV4 ``Authorization`` with the access key id among
them) stays off while ours is on. ``-vvv`` opens it, says once that it may hold
credentials, and still masks the header and the key id.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.reliability.secret_scan import Secret, bucket_objects, find_leaks, run_cli
from tests.reliability.stack import bare_repo, remote_subjects
from tests.servers.mlflow_fixtures import ModelNames
from tests.servers.mlflow_server import MlflowServer, register_version
from tests.servers.mlflow_webhook import base_config
from tests.servers.seaweedfs import S3Server

pytestmark = [pytest.mark.slow]

WARNING = "may still hold credentials"


def test_debug_logs_of_an_s3_reconcile_show_no_key_id_nor_authorization_header(
    mlflow_server: MlflowServer,
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
    unique_model_name: ModelNames,
) -> None:
    remote = bare_repo(tmp_path / "remote.git")
    profiles = tmp_path / "aws-credentials"
    profiles.write_text(
        f"[team]\naws_access_key_id = {s3_server.access_key}\n"
        f"aws_secret_access_key = {s3_server.secret_key}\n"
    )
    config = base_config(mlflow_server, remote, tmp_path / "state", unique_model_name.prefix)
    config["artifacts"].update(
        store="s3",
        s3={"bucket": s3_bucket, "endpoint_url": s3_server.endpoint_url,
            "addressing_style": "path", "profile": "team"},
    )  # fmt: skip
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(profiles), "AWS_DEFAULT_REGION": "us-east-1"}
    keys = [
        Secret("S3 access key id", s3_server.access_key),
        Secret("S3 secret key", s3_server.secret_key, s3_server.access_key),
    ]
    client = mlflow_server.client()
    outputs = {}
    for verbosity in ("-vv", "-vvv"):
        name = unique_model_name(verbosity.strip("-"))  # a new copy to make at each level
        register_version(client, name)
        client.set_registered_model_alias(name, "staging", "1")
        outputs[verbosity] = run_cli(
            ["reconcile", "--once"], config_path, env, verbosity=verbosity, ok=(0,)
        )
    assert len(remote_subjects(remote)) == 2
    assert len(bucket_objects(s3_server, s3_bucket)) >= 2  # both runs copied to S3

    vv, vvv = outputs["-vv"], outputs["-vvv"]
    assert "DEBUG watcher." in vv  # our debug lines are on
    assert "DEBUG botocore" not in vv and "DEBUG urllib3" not in vv
    assert "authorization" not in vv.lower() and WARNING not in vv
    # -vvv: the libraries' debug logs, a warning once, and still no key id.
    assert "DEBUG botocore" in vvv and vvv.count(WARNING) == 1
    assert "'Authorization': b'***'" in vvv, vvv[-3000:]  # the header, masked whole
    leaks = [leak for level, text in outputs.items() for leak in find_leaks(level, text, keys)]
    assert not leaks, "\n".join(leaks[:10])
