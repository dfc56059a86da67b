"""Load settings from one YAML file and the environment, and validate them.

Environment variables win over the file, so one image and one config file
serve every cluster; the names are the ones MLflow, git tooling and the seed
deployment already use. Secrets come only from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from watcher.config.settings import Credentials, Settings
from watcher.errors import ConfigError

CONFIG_ENV = "GITOPS_WATCHER_CONFIG"

#: Environment variable -> (section, key) in the settings tree.
ENV_SETTINGS: dict[str, tuple[str, ...]] = {
    "MLFLOW_TRACKING_URI": ("registry", "tracking_uri"),
    "MLFLOW_REGISTRY_DB_URI": ("registry", "database_uri"),
    "MLFLOW_TRACKING_INSECURE_TLS": ("registry", "insecure_tls"),
    "MLFLOW_TRACKING_SERVER_CERT_PATH": ("registry", "ca_bundle"),
    "GIT_REPO_URL": ("git", "repo_url"),
    "GIT_BRANCH": ("git", "branch"),
    "GIT_SSH_KEY_FILE": ("git", "ssh_key_file"),
    "GIT_KNOWN_HOSTS_FILE": ("git", "known_hosts_file"),
    "GITOPS_WATCHER_STATE_DIR": ("state_dir",),
    "GITOPS_WATCHER_STATE_DB_URL": ("state", "database_url"),
    "GITOPS_WATCHER_TEMPLATES_DIR": ("render", "templates_dir"),
    "BUCKET_NAME": ("artifacts", "s3", "bucket"),
    # Both name the endpoint; MLflow's variable comes later and so wins when both are set.
    "AWS_ENDPOINT_URL_S3": ("artifacts", "s3", "endpoint_url"),
    "MLFLOW_S3_ENDPOINT_URL": ("artifacts", "s3", "endpoint_url"),
    "GITOPS_WATCHER_ARTIFACT_STORE": ("artifacts", "store"),
}

#: Environment variables whose "true" turns a setting off (MLflow's spelling).
ENV_INVERTED_FLAGS: dict[str, tuple[str, ...]] = {
    "MLFLOW_S3_IGNORE_TLS": ("artifacts", "s3", "verify_tls"),
}

#: Environment variable -> Credentials field.
ENV_CREDENTIALS = {
    "MLFLOW_TRACKING_TOKEN": "mlflow_token",
    "MLFLOW_TRACKING_USERNAME": "mlflow_username",
    "MLFLOW_TRACKING_PASSWORD": "mlflow_password",
    "GIT_TOKEN": "git_token",
    "GIT_USERNAME": "git_username",
}

_SECRET_WORDS = ("password", "token", "secret", "private_key")


def load_settings(
    config_path: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[Settings, Credentials]:
    """Settings and credentials, or a ConfigError that names the bad key."""
    env = os.environ if env is None else env
    path = config_path or env.get(CONFIG_ENV, "")
    raw = _read_file(Path(path)) if path else {}
    _refuse_secrets(raw)
    _resolve_relative_to(raw, Path(path).parent if path else Path.cwd())
    for variable, keys in ENV_SETTINGS.items():
        value = env.get(variable)
        if value:
            _set(raw, keys, value)
    for variable, keys in ENV_INVERTED_FLAGS.items():
        value = env.get(variable, "").strip().lower()
        if value:
            _set(raw, keys, "false" if value in ("1", "true", "yes", "on") else "true")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path or "the environment")) from exc
    credentials = Credentials(
        **{field: env[name] for name, field in ENV_CREDENTIALS.items() if env.get(name)}
    )
    return settings, credentials


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"config file {path} does not exist", hint=f"check --config or ${CONFIG_ENV}"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings at the top level")
    return data


def _resolve_relative_to(raw: dict[str, Any], base: Path) -> None:
    """A templates folder named in the config file is relative to that file, not to the cwd."""
    render = raw.get("render")
    if isinstance(render, dict) and isinstance(render.get("templates_dir"), str):
        folder = Path(render["templates_dir"])
        if render["templates_dir"] and not folder.is_absolute():
            render["templates_dir"] = str(base / folder)


def _set(tree: dict[str, Any], keys: tuple[str, ...], value: str) -> None:
    node = tree
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def _refuse_secrets(tree: Mapping[str, Any], prefix: str = "") -> None:
    """Secrets in a config file end up in git; refuse them with the variable to use instead."""
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _refuse_secrets(value, f"{dotted}.")
        elif any(word in str(key).lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"config key {dotted!r} looks like a secret; "
                "secrets are read from the environment only",
                hint="see 'Credentials' in docs/configuration.md",
            )


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see docs/configuration.md)"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)
