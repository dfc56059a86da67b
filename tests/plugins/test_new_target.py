"""A target added the way docs/architecture.md says, entirely in this test.

The recipe is complete when these are all it takes: a template folder (here in
``render.templates_dir``), one module's worth of ``TargetSpec`` (here, below),
and one registration line. Nothing else of gitops-watcher is edited, and yet a
stage gets a route in front of the new target and NetworkPolicies that select
its pods, because the shared model variables ask the spec, never a name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from watcher import targets, wiring
from watcher.config.settings import Credentials, Settings
from watcher.core.model_context import model_context
from watcher.core.targets import RouteBackend, TargetSpec
from watcher.errors import ConfigError

# -- the plug-in: its templates and its spec ------------------------------------------------

TEMPLATES = {
    "seldon/seldondeployment.yaml.j2": """\
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: {{ deployment.name | yaml }}
  namespace: {{ deployment.namespace | yaml }}
  labels: {{ deployment.labels | yaml(4) }}
  annotations: {{ deployment.annotations | yaml(4) }}
spec:
  predictors:
    - name: default
      replicas: {{ deployment.replicas | yaml }}
      graph:
        name: model
        implementation: MLFLOW_SERVER
        modelUri: {{ model.uri | yaml }}
""",
    "seldon/httproute.yaml.j2": '{% include "network/httproute.yaml.j2" %}\n',
    "seldon/networkpolicy.yaml.j2": '{% include "network/networkpolicy.yaml.j2" %}\n',
    "seldon/kustomization.yaml.j2": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: {{ resources | yaml(2) }}
""",
}


def _seldon_pods(context: Mapping[str, Any]) -> dict[str, str]:
    return {"seldon-deployment-id": context["deployment"]["name"]}


SELDON = TargetSpec(
    name="seldon",
    folder="seldon",
    context=model_context,
    # Seldon Core creates "<name>-<predictor>" Services on port 8000.
    route_backend=RouteBackend("-default", 8000),
    pod_selector=_seldon_pods,
    copies=frozenset({"s3", "none"}),
)

# -- the test --------------------------------------------------------------------------------


@pytest.fixture
def seldon_registered() -> Iterator[None]:
    targets.register(SELDON)  # the one registration line
    try:
        yield
    finally:
        targets.unregister(SELDON.name)


def _settings(tmp_path: Path, **stage: Any) -> Settings:
    for name, text in TEMPLATES.items():
        path = tmp_path / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Settings.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "render": {"templates_dir": str(tmp_path / "templates")},
            "stages": [{"name": "production", "select": [{"alias": "champion"}], **stage}],
        }
    )


def _snapshot(tmp_path: Path) -> Path:
    path = tmp_path / "snapshot.json"
    version = {"name": "churn", "version": "7", "run_id": "r7", "source": "runs:/r7/model"}
    path.write_text(
        json.dumps(
            {
                "ui_url": "https://mlflow.example.com",
                "models": [{"name": "churn", "aliases": {"champion": "7"}, "versions": [version]}],
            }
        )
    )
    return path


def _objects(files: Mapping[str, bytes]) -> dict[str, dict[str, Any]]:
    return {
        name: yaml.safe_load(data) for name, data in files.items() if name.endswith(".yaml")
    }


@pytest.mark.usefixtures("seldon_registered")
def test_a_target_defined_in_a_test_gets_routes_and_network_policies(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        target="seldon",
        network_policy=True,
        route={"kind": "httproute", "hosts": ["models.example.com"], "gateway": "gw/public"},
    )
    state = wiring.render_desired(settings, Credentials(), snapshot=_snapshot(tmp_path))
    assert not state.failures, state.failures
    folder = state.folders["churn/production"]
    objects = _objects(folder.files)
    assert objects["seldondeployment.yaml"]["kind"] == "SeldonDeployment"
    backend = objects["httproute.yaml"]["spec"]["rules"][0]["backendRefs"][0]
    assert backend == {"name": "churn-default", "port": 8000}
    policy = objects["networkpolicy.yaml"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"seldon-deployment-id": "churn"}
    kustomization = objects["kustomization.yaml"]
    assert sorted(kustomization["resources"]) == [
        "httproute.yaml",
        "networkpolicy.yaml",
        "seldondeployment.yaml",
    ]
    assert json.loads(folder.files["promotion.json"])["target"] == "seldon"


@pytest.mark.usefixtures("seldon_registered")
def test_what_a_target_declares_is_enforced_for_it(tmp_path: Path) -> None:
    """Copies and options are the spec's answers too: a local copy, or an option it does
    not read, is a configuration error that names the target."""
    local = _settings(tmp_path, target="seldon")
    with pytest.raises(ConfigError, match="'seldon' cannot serve from a 'local' copy"):
        wiring.check_stage_targets(local)
    options = _settings(tmp_path, target="seldon", target_options={"replicas_of": "3"})
    with pytest.raises(ConfigError, match="'seldon' has no option replicas_of"):
        wiring.check_stage_targets(options, copies=False)


def test_without_the_registration_line_the_target_is_unknown(tmp_path: Path) -> None:
    settings = _settings(tmp_path, target="seldon")
    with pytest.raises(ConfigError, match="unknown model target 'seldon'"):
        wiring.check_stage_targets(settings, copies=False)
