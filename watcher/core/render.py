"""Render: one desired deployment becomes a folder of files (name -> bytes).

Pure: templates arrive through a Jinja loader chosen by the caller, and the
result is data. Every value reaches the output through the ``yaml`` filter;
``finalize`` rejects a bare ``{{ value }}``, so no template can splice raw text
into a manifest by accident. Output is normalised (no trailing spaces, one
final newline) so equal inputs give byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import jinja2
import jinja2.sandbox

from watcher import __version__
from watcher.core.artifacts import ArtifactRef
from watcher.core.desired import DesiredDeployment, Failure
from watcher.core.manifests import validate_folder
from watcher.core.names import describe
from watcher.core.urls import redact_url
from watcher.core.yaml_text import YamlText, to_yaml
from watcher.errors import PermanentError, TemplateError

#: Template folder (inside a templates dir) for registry model deployments.
MODEL_TEMPLATES = "model"
KUSTOMIZATION = "kustomization.yaml"
PROVENANCE = "promotion.json"
MANAGED_BY = "gitops-watcher"
ANNOTATION_PREFIX = "gitops-watcher.io"


def _finalize(value: object) -> object:
    if isinstance(value, YamlText) or value is None or isinstance(value, bool | int):
        return value
    raise TemplateError(
        f"a template inserts the value {describe(str(value), 60)} without the yaml filter",
        hint="write {{ value | yaml }} so the value is quoted and escaped",
    )


def make_environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    """A sandboxed, strict Jinja environment: undefined names and unquoted values are errors."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yaml"] = to_yaml
    return env


def version_url(ui_url: str, model_name: str, version: str) -> str:
    if not ui_url:
        return ""
    base = ui_url.rstrip("/")
    return f"{base}/#/models/{quote(model_name, safe='')}/versions/{quote(version, safe='')}"


def artifact_key(deployment: DesiredDeployment) -> tuple[str, str]:
    """Deployments of the same version share one copy."""
    return (deployment.version.name, deployment.version.version)


def registry_uri(deployment: DesiredDeployment) -> str:
    return f"models:/{deployment.version.name}/{deployment.version.version}"


def template_context(
    deployment: DesiredDeployment, ui_url: str, artifact: ArtifactRef | None = None
) -> dict[str, Any]:
    """Everything a template may use; documented in docs/templates.md."""
    version = deployment.version
    stage = deployment.stage
    link = version_url(ui_url, version.name, version.version)
    selector_labels = {
        "app.kubernetes.io/name": deployment.slug,
        "app.kubernetes.io/instance": f"{deployment.slug}-{stage.name}",
    }
    labels = {
        **selector_labels,
        "app.kubernetes.io/version": version.version,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": deployment.slug,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        f"{ANNOTATION_PREFIX}/stage": stage.name,
    }
    annotations = {
        f"{ANNOTATION_PREFIX}/model-name": version.name,
        f"{ANNOTATION_PREFIX}/model-version": version.version,
        f"{ANNOTATION_PREFIX}/run-id": version.run_id,
        f"{ANNOTATION_PREFIX}/source": redact_url(version.source),
        f"{ANNOTATION_PREFIX}/selected-by": deployment.selected_by,
    }
    if artifact is not None:
        annotations[f"{ANNOTATION_PREFIX}/artifact-uri"] = artifact.uri
        annotations[f"{ANNOTATION_PREFIX}/artifact-digest"] = artifact.digest
    if link:
        annotations["link.argocd.argoproj.io/mlflow-model-version"] = link
    return {
        "model": {
            "name": version.name,
            "version": version.version,
            "run_id": version.run_id,
            "source": redact_url(version.source),
            # The verified copy when artifacts are copied; the registry URI otherwise.
            "uri": artifact.uri if artifact else registry_uri(deployment),
            "registry_uri": registry_uri(deployment),
            "digest": artifact.digest if artifact else "",
            "tags": version.tag_map,
            "url": link,
        },
        "artifact": artifact.to_dict() if artifact else None,
        "deployment": {
            "name": deployment.slug,
            "stage": stage.name,
            "namespace": stage.namespace,
            "replicas": deployment.replicas,
            "image": stage.image,
            "resources": {k: dict(v) for k, v in deployment.resources.items()},
            "env": [list(pair) for pair in stage.env],
            "env_from": list(stage.env_from),
            "selected_by": deployment.selected_by,
            "labels": labels,
            "selector_labels": selector_labels,
            "annotations": annotations,
        },
        "watcher": {"version": __version__},
    }


def provenance(
    deployment: DesiredDeployment, ui_url: str, artifact: ArtifactRef | None = None
) -> dict[str, Any]:
    """The content of promotion.json: what runs here and where it came from.

    No timestamps and no registry stage of the version: the file must change only
    when what this folder deploys changes, not when the version moves elsewhere.
    """
    version = deployment.version
    extra = {"artifact": artifact.to_dict()} if artifact is not None else {}
    return {
        **extra,
        "managed_by": MANAGED_BY,
        "model": {
            "name": version.name,
            "version": version.version,
            "run_id": version.run_id,
            "source": redact_url(version.source),
            "url": version_url(ui_url, version.name, version.version),
        },
        "stage": deployment.stage.name,
        "namespace": deployment.stage.namespace,
        "selected_by": deployment.selected_by,
        "overrides": dict(deployment.overrides.applied),
    }


def dump_json(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def render_deployment(
    env: jinja2.Environment,
    deployment: DesiredDeployment,
    ui_url: str = "",
    kubernetes_version: str | None = "1.33",
    artifact: ArtifactRef | None = None,
) -> dict[str, bytes]:
    """The folder for one deployment; validated when ``kubernetes_version`` is given."""
    context = template_context(deployment, ui_url, artifact)
    names = sorted(
        name
        for name in env.list_templates(extensions=["j2"])
        if name.startswith(f"{MODEL_TEMPLATES}/") and name.count("/") == 1
    )
    files: dict[str, bytes] = {}
    kustomization: str | None = None
    for name in names:
        output = name[len(MODEL_TEMPLATES) + 1 : -len(".j2")]
        if output == KUSTOMIZATION:
            kustomization = name
            continue
        if output == PROVENANCE:
            raise TemplateError(
                f"template {name} would overwrite {PROVENANCE}, which the daemon owns"
            )
        text = _render(env, name, context)
        if text:
            files[output] = text.encode()
    if kustomization is not None:
        resources = sorted(f for f in files if f.endswith((".yaml", ".yml")))
        text = _render(env, kustomization, {**context, "resources": resources})
        if text:
            files[KUSTOMIZATION] = text.encode()
    if kubernetes_version:
        validate_folder(files, kubernetes_version)
    files[PROVENANCE] = dump_json(provenance(deployment, ui_url, artifact))
    return files


def _render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        text = env.get_template(name).render(context)
    except TemplateError as exc:
        raise TemplateError(f"template {name}: {exc}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name}, line {exc.lineno}: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"template {name}: {exc.message}", hint="see docs/templates.md for the variables"
        ) from exc
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        raise TemplateError(f"template {name}: {exc}") from exc
    lines = [line.rstrip() for line in text.splitlines()]
    normalised = "\n".join(lines).strip("\n")
    return f"{normalised}\n" if normalised else ""


def render_all(
    env: jinja2.Environment,
    deployments: Iterable[DesiredDeployment],
    ui_url: str = "",
    kubernetes_version: str | None = "1.33",
    artifacts: Mapping[tuple[str, str], ArtifactRef] | None = None,
) -> tuple[dict[str, dict[str, bytes]], list[Failure]]:
    """Render every deployment; one that fails becomes a Failure and the rest go on.

    With ``artifacts`` given, a deployment whose version has no verified copy in
    it is skipped: its failure was reported when the copy failed.
    """
    rendered: dict[str, dict[str, bytes]] = {}
    failures: list[Failure] = []
    for deployment in deployments:
        artifact = None
        if artifacts is not None:
            artifact = artifacts.get(artifact_key(deployment))
            if artifact is None:
                continue
        try:
            rendered[deployment.folder] = render_deployment(
                env, deployment, ui_url, kubernetes_version, artifact
            )
        except PermanentError as exc:
            failures.append(
                Failure(deployment.model.name, deployment.stage.name, exc, deployment.folder)
            )
    return rendered, failures
