"""The ``code_src`` forms the SDKs write are read as the fetchers need them, or refused clearly.

The forms are those of the DigitalHub SDK (``digitalhub.utils.uri_utils``: git,
git+http(s), http(s), zip+http(s), zip+s3; the python runtime's
``save_function_source`` fetches each) and MLRun's ``git://…#ref`` and archives.
Running the rendered fetchers is tested in
``tests/integration/test_function_code_sources.py``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from watcher.commands.validate import validate_paths
from watcher.core.functions.catalog import read_catalog
from watcher.core.functions.code_sources import remote_source
from watcher.core.functions.model import RemoteSource
from watcher.core.functions.problems import Problems
from watcher.core.functions.releases import FunctionStage, build_releases

T = "/opt/function/src"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "git+https://github.com/org/repo#main",
            RemoteSource("git", "https://github.com/org/repo", "main", T),
        ),
        (
            "git+https://gitlab.example.com/group/sub/repo.git#v1.2.0",
            RemoteSource("git", "https://gitlab.example.com/group/sub/repo.git", "v1.2.0", T),
        ),
        (
            "git+http://git.internal:3000/org/repo",
            RemoteSource("git", "http://git.internal:3000/org/repo", "HEAD", T),
        ),
        (
            "git://github.com/org/repo.git#main",
            RemoteSource("git", "https://github.com/org/repo.git", "main", T),
        ),
        (
            "zip+https://example.com/code_bundle.zip",
            RemoteSource("archive", "https://example.com/code_bundle.zip", "", T),
        ),
        (
            "zip+https://example.com/bundles/latest",
            RemoteSource("archive", "https://example.com/bundles/latest", "", T),
        ),
        (
            "zip+http://127.0.0.1:8000/b.zip",
            RemoteSource("archive", "http://127.0.0.1:8000/b.zip", "", T),
        ),
        (
            "zip+s3://datalake/my-project/function/fn/0f3a/archive.zip",
            RemoteSource("s3", "s3://datalake/my-project/function/fn/0f3a/archive.zip", "", T),
        ),
        (
            "https://example.com/my_function.py",
            RemoteSource("archive", "https://example.com/my_function.py", "", T),
        ),
        (
            "https://example.com/src.tar.gz",
            RemoteSource("archive", "https://example.com/src.tar.gz", "", T),
        ),
        ("s3://bucket/src.tgz", RemoteSource("s3", "s3://bucket/src.tgz", "", T)),
    ],
)
def test_sdk_forms_are_read(url: str, expected: RemoteSource) -> None:
    problems = Problems("f.yaml")
    assert remote_source(problems, url, "spec.source.source", T) == expected
    assert not problems.found


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("git+https://bot:tok3n@github.com/org/repo#main", "holds credentials in the URL"),
        ("zip+https://u:p@example.com/b.zip", "holds credentials in the URL"),
        ("s3://bucket/code/main.py", "zip+s3://… for a zip of any name"),
        ("https://example.com/code", "or one .py file"),
        ("ftp://example.com/code.zip", "is not a supported source; use git+https://"),
        ("zip+git://github.com/org/repo", "is not a supported source"),
        ("git+ssh://git@github.com/org/repo", "is not a supported source"),
        ("git+https://github.com", "is not git+https://<host>/<repo>#<ref>"),
    ],
)
def test_other_forms_are_refused_with_what_works(url: str, message: str) -> None:
    problems = Problems("f.yaml")
    assert remote_source(problems, url, "spec.source.source", T) is None
    (problem,) = problems.found
    assert message in problem.message


def function_files(code_src: str, handler: str) -> dict[str, bytes]:
    spec = {
        "kind": "python",
        "metadata": {"project": "p", "name": "fn"},
        "spec": {
            "python_version": "PYTHON3_11",
            "source": {"source": code_src, "handler": handler, "lang": "python"},
        },
    }
    return {"fn.yaml": yaml.safe_dump(spec).encode(), "fn.overlay.yaml": b"action: serve\n"}


def test_the_issue_example_deploys_with_a_git_fetcher() -> None:
    """``code_src="git+https://github.com/org/repo#main"`` was refused as not supported."""
    files = function_files("git+https://github.com/org/repo#main", "src.app:handler")
    stages = [FunctionStage("staging", "s")]
    releases, failures = build_releases("f", "functions", read_catalog(files), stages)
    assert not failures, [str(f.error) for f in failures]
    (release,) = releases
    workload = release.payload.workload  # type: ignore[attr-defined]
    assert workload.source == RemoteSource("git", "https://github.com/org/repo", "main", T)
    assert workload.handler == "src.app:handler"


def test_a_bare_handler_of_one_remote_file_names_that_module() -> None:
    files = function_files("https://example.com/my_function.py", "main")
    stages = [FunctionStage("staging", "s")]
    (release,), _ = build_releases("f", "functions", read_catalog(files), stages)
    assert release.payload.workload.handler == "my_function:main"  # type: ignore[attr-defined]


def test_validate_accepts_every_sdk_form(tmp_path: Path) -> None:
    for index, code_src in enumerate(
        [
            "git+https://github.com/org/repo#main",
            "zip+s3://datalake/p/function/fn/1/archive.zip",
            "zip+https://example.com/code_bundle.zip",
            "https://example.com/my_function.py",
        ]
    ):
        folder = tmp_path / str(index)
        folder.mkdir()
        for name, data in function_files(code_src, "main:handler").items():
            (folder / name).write_bytes(data)
        out = io.StringIO()
        assert validate_paths([folder], out) == 0, out.getvalue()
