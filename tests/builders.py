"""Small builders for snapshots and settings used across tests."""

from __future__ import annotations

from collections.abc import Mapping

from watcher.config.settings import Settings
from watcher.core.model import ModelVersion, RegisteredModel, RegistrySnapshot


def version(name: str, number: int, stage: str = "None", **tags: str) -> ModelVersion:
    return ModelVersion(
        name=name,
        version=str(number),
        current_stage=stage,
        source=f"s3://mlflow/{name}/{number}",
        run_id=f"run{number}",
        tags=tuple(tags.items()),
    )


def model(
    name: str, versions: list[ModelVersion], aliases: Mapping[str, int] | None = None
) -> RegisteredModel:
    return RegisteredModel(
        name=name,
        versions=tuple(versions),
        aliases=tuple((alias, str(number)) for alias, number in (aliases or {}).items()),
    )


def snapshot(*models: RegisteredModel, ui_url: str = "http://mlflow.example") -> RegistrySnapshot:
    return RegistrySnapshot(models=models, ui_url=ui_url)


def settings(**overrides: object) -> Settings:
    return Settings.model_validate(overrides)


def decide(  # type: ignore[no-untyped-def]
    snap: RegistrySnapshot,
    config: Settings,
    *,
    source: str = "mlflow",
    path: str = "",
    memo: object = None,
):
    """The releases the MLflow source would yield for ``snap`` under ``config``."""
    from watcher.core.model_releases import model_releases
    from watcher.core.stages import NameFilter
    from watcher.sources.mlflow.settings_view import stage_policy

    models = config.registry.models
    return model_releases(
        snap,
        tuple(stage_policy(stage, config.render) for stage in config.stages),
        NameFilter(models.include, models.exclude),
        source=source,
        path=path,
        memo=memo,  # type: ignore[arg-type]
    )
