"""Where templates come from: a user's folder first, then the built-in ones."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2

from watcher.errors import ConfigError

_PACKAGED = "_default_templates"


def default_templates_dir() -> Path:
    """Built-in templates: packaged in the wheel, or the repo's templates/ in a source checkout."""
    packaged = Path(str(resources.files("watcher").joinpath(_PACKAGED)))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "templates"


def template_loader(user_dir: str = "") -> jinja2.BaseLoader:
    """A loader that prefers the user's templates and falls back to the built-in ones."""
    loaders: list[jinja2.BaseLoader] = []
    if user_dir:
        path = Path(user_dir)
        if not path.is_dir():
            raise ConfigError(
                f"templates folder {user_dir} does not exist",
                hint="fix render.templates_dir or $GITOPS_WATCHER_TEMPLATES_DIR",
            )
        loaders.append(jinja2.FileSystemLoader(path, followlinks=False))
    builtin = default_templates_dir()
    if not builtin.is_dir():
        raise ConfigError(f"built-in templates are missing at {builtin}; reinstall gitops-watcher")
    loaders.append(jinja2.FileSystemLoader(builtin))
    return jinja2.ChoiceLoader(loaders)
