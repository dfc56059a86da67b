"""Load settings from one YAML file and the environment, and validate them.

Environment variables win over the file, so one image and one config file
serve every cluster. Every key has a variable generated from the settings
model (``GITOPS_WATCHER_`` + the key path in upper case, nested with ``__``:
``artifacts.sources.local_roots`` is ``GITOPS_WATCHER_ARTIFACTS__SOURCES__LOCAL_ROOTS``);
lists and mappings are given as JSON, lists of names also comma-separated.
The well-known variables of MLflow, git tooling and the seed deployment are
read too. Secrets come only from the environment, or from the user info of a URL
(``https://user:password@host``), which is taken out of the URL here and kept
with the other credentials (``url_credentials.py``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model

from watcher.config.forge_settings import FORGE_TOKEN_ENV, FORGE_TOKEN_FALLBACKS
from watcher.config.settings import Credentials, Settings
from watcher.config.url_credentials import take_url_credentials
from watcher.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_ENV = "GITOPS_WATCHER_CONFIG"
ENV_PREFIX = "GITOPS_WATCHER_"

#: Well-known variable -> key path; a generated variable for the same key wins over these.
ENV_SETTINGS: dict[str, tuple[str, ...]] = {
    "MLFLOW_TRACKING_URI": ("registry", "tracking_uri"),
    "MLFLOW_REGISTRY_DB_URI": ("registry", "database_uri"),
    "MLFLOW_TRACKING_INSECURE_TLS": ("registry", "insecure_tls"),
    "MLFLOW_TRACKING_SERVER_CERT_PATH": ("registry", "ca_bundle"),
    "GIT_REPO_URL": ("git", "repo_url"),
    "GIT_BRANCH": ("git", "branch"),
    "GIT_SSH_KEY_FILE": ("git", "ssh_key_file"),
    "GIT_KNOWN_HOSTS_FILE": ("git", "known_hosts_file"),
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
    "ARGOCD_AUTH_TOKEN": "argocd_token",
}

#: Variables with the prefix that are not settings (secrets, or the config path).
ENV_NOT_SETTINGS = ("GITOPS_WATCHER_CONFIG", "GITOPS_WATCHER_WEBHOOK_SECRET", FORGE_TOKEN_ENV)

_SECRET_WORDS = ("password", "token", "secret", "private_key")
_TRUE = ("1", "true", "yes", "on")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings group a field holds, also through ``Optional``; None for a leaf."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in get_args(annotation) if _model_of(a) is not None]
        if len(models) == 1 and type(None) in get_args(annotation):
            return _model_of(models[0])
    return None


def _is_scalar(annotation: Any) -> bool:
    if annotation in (str, int, float, bool):
        return True
    origin = get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin in (typing.Union, types.UnionType):
        return all(a is type(None) or _is_scalar(a) for a in get_args(annotation))
    return False


def _is_name_list(annotation: Any) -> bool:
    return get_origin(annotation) is tuple and get_args(annotation) == (str, ...)


def setting_keys(
    model: type[BaseModel] = Settings, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf key of the settings tree with its annotation (lists of groups are leaves)."""
    for name, info in model.model_fields.items():
        key = (*path, name)
        group = _model_of(info.annotation)
        if group is not None:
            yield from setting_keys(group, key)
        else:
            yield key, info.annotation


def env_name(key: tuple[str, ...]) -> str:
    """The generated variable of a key path: ``GITOPS_WATCHER_GIT__BRANCH``."""
    return ENV_PREFIX + "__".join(part.upper() for part in key)


def env_variables(
    model: type[BaseModel] = Settings,
) -> dict[str, tuple[tuple[str, ...], Any]]:
    """Generated variable -> (key path, annotation), for every key."""
    return {env_name(key): (key, annotation) for key, annotation in setting_keys(model)}


def settings_model(sections: Mapping[str, type[BaseModel]] | None = None) -> type[Settings]:
    """The settings tree with the config sections that source plug-ins bring: each a list of
    its own entries under its key (``sections``: key -> settings of one entry)."""
    if not sections:
        return Settings
    return _extended(tuple(sorted(sections.items())))


@functools.cache
def _extended(sections: tuple[tuple[str, type[BaseModel]], ...]) -> type[Settings]:
    clashes = [key for key, _ in sections if key in Settings.model_fields]
    if clashes:
        raise ConfigError(f"a source plug-in's config section clashes with a setting: {clashes}")
    fields: dict[str, Any] = {
        key: (tuple[model, ...], Field((), description=(model.__doc__ or "").strip()))  # type: ignore[valid-type]
        for key, model in sections
    }
    return cast(type[Settings], create_model("Settings", __base__=Settings, **fields))


def load_settings(
    config_path: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    sections: Mapping[str, type[BaseModel]] | None = None,
) -> tuple[Settings, Credentials]:
    """Settings and credentials, or a ConfigError that names the bad key or variable.

    ``sections``: config sections of source plug-ins (``wiring.settings_sections()``).
    """
    model = settings_model(sections)
    env = os.environ if env is None else env
    path = config_path or env.get(CONFIG_ENV, "")
    raw = _read_file(Path(path)) if path else {}
    _refuse_secrets(raw)
    _resolve_relative_to(raw, Path(path).absolute().parent if path else Path.cwd())
    origins: dict[tuple[str, ...], str] = {}
    for variable, keys in ENV_SETTINGS.items():
        value = env.get(variable)
        if value:
            _set(raw, keys, value)
            origins[keys] = variable
    for variable, keys in ENV_INVERTED_FLAGS.items():
        value = env.get(variable, "").strip().lower()
        if value:
            _set(raw, keys, "false" if value in _TRUE else "true")
            origins[keys] = variable
    generated = env_variables(model)
    for variable, (keys, annotation) in generated.items():
        value = env.get(variable)
        if value is None or value == "":
            continue
        _set(raw, keys, _parse_env_value(variable, value, annotation))
        origins[keys] = variable
    _refuse_unknown_variables(env, generated)
    try:
        settings = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path or "the environment", origins)) from exc
    settings, in_urls = take_url_credentials(settings)
    found = {field: env[name] for name, field in ENV_CREDENTIALS.items() if env.get(name)}
    token = forge_token(settings.git.forge.kind, env)
    credentials = Credentials(
        **found,
        **({"forge_token": token} if token else {}),
        notification_secrets=_named_variables(settings, "secret_env", env),
        notification_urls=_named_variables(settings, "url_env", env),
        urls=in_urls,
    )
    return settings, credentials


def forge_token(kind: str, env: Mapping[str, str]) -> str:
    """GITOPS_WATCHER_FORGE_TOKEN, else the forge's usual variable (GITHUB_TOKEN …)."""
    for name in (FORGE_TOKEN_ENV, *FORGE_TOKEN_FALLBACKS.get(kind, ())):
        if env.get(name):
            return env[name]
    return ""


def _named_variables(settings: Settings, key: str, env: Mapping[str, str]) -> dict[str, str]:
    """Per notification: the value of the variable its ``key`` names, when set (one that is
    not set is a configuration error where notifications are built)."""
    found = {}
    for notification in settings.notifications:
        variable = getattr(notification, key)
        if variable and env.get(variable):
            found[notification.name] = env[variable]
    return found


def _parse_env_value(variable: str, value: str, annotation: Any) -> Any:
    if _is_scalar(annotation):
        return value
    if _is_name_list(annotation) and not value.lstrip().startswith("["):
        return [part.strip() for part in value.split(",") if part.strip()]
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ConfigError(
            f"environment variable {variable} must hold JSON for this setting: {exc}",
            hint='lists look like \'["a", "b"]\', mappings like \'{"key": "value"}\'',
        ) from exc


def _refuse_unknown_variables(env: Mapping[str, str], generated: Mapping[str, object]) -> None:
    """A misspelt GITOPS_WATCHER_ variable must not be silently ignored: it is named."""
    known = set(generated) | set(ENV_SETTINGS) | set(ENV_NOT_SETTINGS)
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known and env[name]:
            log.warning(
                "environment variable %s is not a gitops-watcher setting (misspelt?); "
                "docs/configuration.md lists them all",
                name,
            )


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
    """Folders named in the config file are relative to that file, not to the cwd."""
    for keys in (("render", "templates_dir"), ("state_dir",)):
        node: Any = raw
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(keys[-1]), str):
            folder = Path(node[keys[-1]])
            if node[keys[-1]] and not folder.is_absolute():
                node[keys[-1]] = str(base / folder)


def _set(tree: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
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
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    _refuse_secrets(item, f"{dotted}.{index}.")
        elif any(word in str(key).lower() for word in _SECRET_WORDS) and not str(key).endswith(
            "_env"
        ):
            raise ConfigError(
                f"config key {dotted!r} looks like a secret; "
                "secrets are read from the environment only",
                hint="see 'Credentials' in docs/configuration.md",
            )


#: pydantic's wording for a type error, said the way a config file's reader thinks.
_PLAIN_MESSAGES = {
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping of settings",
    "model_attributes_type": "must be a mapping of settings",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "missing": "is required",
    "extra_forbidden": "unknown key (check the spelling; see docs/configuration.md)",
}


def _describe(exc: ValidationError, source: str, origins: Mapping[tuple[str, ...], str]) -> str:
    lines = [f"invalid configuration in {source}:"]
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        key = ".".join(loc) or "(top level)"
        message = _PLAIN_MESSAGES.get(error["type"], str(error["msg"]))
        message = message.removeprefix("Value error, ").replace("Input should be", "must be")
        ctx = error.get("ctx") or {}
        if error["type"] in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            bound = next(iter(ctx.values()), "")
            words = {
                "greater_than_equal": "at least",
                "greater_than": "more than",
                "less_than_equal": "at most",
                "less_than": "less than",
            }[error["type"]]
            message = f"must be {words} {bound}"
        variable = next(
            (origins[loc[:depth]] for depth in range(len(loc), 0, -1) if loc[:depth] in origins),
            None,
        )
        where = f" (from environment variable {variable})" if variable else ""
        lines.append(f"  {key}{where}: {message}")
    return "\n".join(lines)
