"""docs/serving.md describes the default serving image as it is.

The default image is MLflow's own, ``ghcr.io/mlflow/mlflow:v<version>``, built by
MLflow's docker/Dockerfile with ``pip install mlflow==<version>``. This venv has
that same mlflow release (the serving test runs it), so its package metadata
says what the image installs.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from watcher.config.stage_settings import DEFAULT_SERVING_IMAGE

SERVING_DOC = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


def _mlflow_requirements() -> set[str]:
    requires = importlib.metadata.requires("mlflow") or []
    return {
        re.split(r"[<>=!~; \[]", requirement, maxsplit=1)[0].lower()
        for requirement in requires
        if "extra ==" not in requirement
    }


def test_the_default_image_is_the_mlflow_release_this_venv_has() -> None:
    installed = importlib.metadata.version("mlflow")
    assert DEFAULT_SERVING_IMAGE.rsplit(":", 1) == ["ghcr.io/mlflow/mlflow", f"v{installed}"]


def test_the_docs_say_the_default_image_serves_scikit_learn_models() -> None:
    required = _mlflow_requirements()
    assert {"scikit-learn", "scipy", "pandas", "numpy"} <= required
    assert "boto3" not in required  # why the init container, not the server, reads S3
    text = " ".join(SERVING_DOC.read_text().split())
    assert "holds MLflow only" not in text
    assert "So a scikit-learn model serves from it as it is" in text
    assert "MLflow's own image has no boto3" in text
