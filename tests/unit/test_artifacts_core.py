"""The pure artifact core: source parsing, path and version checks, hashes, the manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watcher.core.artifacts import (
    MANIFEST_FORMAT,
    ArtifactManifest,
    ContentHasher,
    FileEntry,
    artifact_digest,
    check_relative_path,
    check_version,
    parse_source,
    version_prefix,
)
from watcher.errors import InvalidNameError

# --- parse_source ---------------------------------------------------------------------------


def test_run_source_with_a_path_names_the_run_and_the_folder() -> None:
    ref = parse_source("runs:/0a1b2c3d/artifacts/model/")
    assert (ref.kind, ref.value, ref.path) == ("run", "0a1b2c3d", "artifacts/model")


def test_run_source_without_a_path_names_the_whole_run() -> None:
    ref = parse_source("runs:/0a1b2c3d")
    assert (ref.kind, ref.value, ref.path) == ("run", "0a1b2c3d", "")


def test_logged_model_source_names_the_model_id() -> None:
    ref = parse_source("models:/m-5f1e2d3c")
    assert (ref.kind, ref.value) == ("logged_model", "m-5f1e2d3c")


def test_any_other_text_is_a_location_taken_as_it_is() -> None:
    ref = parse_source("s3://bucket/1/abc/artifacts/model")
    assert (ref.kind, ref.value) == ("location", "s3://bucket/1/abc/artifacts/model")


def test_a_registry_uri_is_refused_with_a_hint_at_what_works() -> None:
    """models:/name/1 points back into the registry, so copying it would go in a circle."""
    with pytest.raises(InvalidNameError, match="another registry entry") as caught:
        parse_source("models:/fraud/1")
    assert "runs:/" in caught.value.hint


@pytest.mark.parametrize("source", ["runs:/", "runs:/has space/model", "runs:abc", "runs:/a$b"])
def test_malformed_run_uris_are_refused(source: str) -> None:
    with pytest.raises(InvalidNameError, match="not a valid runs:/"):
        parse_source(source)


def test_an_empty_source_is_refused() -> None:
    with pytest.raises(InvalidNameError, match="no source"):
        parse_source("")


# --- check_relative_path --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["", "/abs", "/", "a/../b", "..", "a//b", "a/", "./a", "a/./b", "a\\b", "a\nb", "\x00"]
)
def test_unsafe_file_paths_are_refused(path: str) -> None:
    """Paths become store keys and local file names; none may climb out or be ambiguous."""
    with pytest.raises(InvalidNameError, match="unsafe path"):
        check_relative_path(path)


@pytest.mark.parametrize("path", ["a/b.txt", "MLmodel", "data/model.pkl", "..hidden", "a..b/c"])
def test_plain_relative_paths_are_kept(path: str) -> None:
    assert check_relative_path(path) == path


@given(st.text(alphabet="ab./\\\x00\n ", max_size=12))
def test_every_accepted_path_stays_below_its_folder(path: str) -> None:
    """Whatever the check lets through can neither climb ('..') nor be absolute."""
    try:
        accepted = check_relative_path(path)
    except InvalidNameError:
        return
    assert ".." not in accepted.split("/")
    assert not accepted.startswith("/")
    assert "" not in accepted.split("/")


# --- versions -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1/../../x", "", "-1", "1.0", "v1", "1 ", "1\n", "1" * 10])
def test_versions_that_are_not_plain_integers_are_refused(version: str) -> None:
    """The version is a key segment; anything but digits could escape the model's prefix."""
    with pytest.raises(InvalidNameError):
        check_version(version)
    with pytest.raises(InvalidNameError):
        version_prefix("artifacts", "fraud", version)


def test_version_prefix_joins_clean_segments() -> None:
    assert version_prefix("/models//copies/", "fraud", "12") == "models/copies/fraud/12"
    assert version_prefix("", "fraud", "3") == "fraud/3"


# --- ContentHasher --------------------------------------------------------------------------


def independent_multipart_etag(data: bytes, part_size: int) -> str:
    """S3's multipart ETag, computed from scratch: md5 of the part md5s, '-', part count."""
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)] or [b""]
    joined = b"".join(hashlib.md5(part).digest() for part in parts)  # noqa: S324 - S3's format
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"  # noqa: S324


@given(
    data=st.binary(max_size=600),
    part_size=st.integers(min_value=1, max_value=70),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12),
)
def test_hashes_do_not_depend_on_how_the_bytes_arrive(
    data: bytes, part_size: int, cuts: list[int]
) -> None:
    """Reads return chunks of any size; part boundaries must still fall every part_size bytes."""
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    for whole in (True, False):
        hasher = ContentHasher(part_size, whole_md5=whole)
        for start, end in itertools.pairwise(bounds):
            hasher.update(data[start:end])
        hasher.update(b"")
        content = hasher.result()
        assert content.size == len(data)
        assert content.sha256 == hashlib.sha256(data).hexdigest()
        assert content.expected_etag(multipart=True) == independent_multipart_etag(data, part_size)
        # The whole-file MD5 when asked for, or free when the file is one part; else unknown.
        if whole or len(data) <= part_size:
            assert content.md5 == hashlib.md5(data).hexdigest()  # noqa: S324
            assert content.expected_etag(multipart=False) == content.md5
        else:
            assert content.md5 == ""


def test_a_zero_byte_file_is_one_empty_part() -> None:
    """S3 stores an empty upload as one part; zero parts would give a different ETag."""
    content = ContentHasher(8).result()
    assert content.part_md5s == (hashlib.md5(b"").digest(),)  # noqa: S324
    assert content.expected_etag(multipart=True) == independent_multipart_etag(b"", 8)
    assert content.expected_etag(multipart=True).endswith("-1")


def test_a_file_of_exactly_two_parts_has_no_empty_third() -> None:
    hasher = ContentHasher(4)
    hasher.update(b"abcdefgh")
    assert hasher.result().expected_etag(multipart=True).endswith("-2")


def test_a_part_size_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        ContentHasher(0)


# --- ArtifactManifest and the digest --------------------------------------------------------


def entry(path: str, data: bytes) -> FileEntry:
    return FileEntry(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


FILES = (
    entry("MLmodel", b"flavors: {}\n"),
    entry("model.pkl", b"\x80\x04pickled"),
    dataclasses.replace(entry("data/weights.bin", b"\x00" * 32), etag="abc-1"),
)


def sample_manifest() -> ArtifactManifest:
    return ArtifactManifest(
        source="runs:/r1/model",
        location="/mlflow/mlruns/1/r1/artifacts/model",
        uri="s3://models/fraud/3/model",
        files=FILES,
    )


def test_manifest_round_trips_through_bytes() -> None:
    manifest = sample_manifest()
    back = ArtifactManifest.from_bytes(manifest.to_bytes())
    assert back is not None
    assert back.ref == manifest.ref
    assert (back.source, back.location, back.uri) == (
        manifest.source,
        manifest.location,
        manifest.uri,
    )
    assert sorted(back.files, key=lambda f: f.path) == sorted(FILES, key=lambda f: f.path)
    assert back.to_bytes() == manifest.to_bytes()


def edited(manifest: ArtifactManifest, **changes: object) -> bytes:
    data = json.loads(manifest.to_bytes())
    data.update(changes)
    return json.dumps(data).encode()


def test_manifest_with_a_tampered_digest_is_not_trusted() -> None:
    manifest = sample_manifest()
    assert ArtifactManifest.from_bytes(edited(manifest)) is not None
    assert ArtifactManifest.from_bytes(edited(manifest, digest="sha256:" + "0" * 64)) is None


def test_manifest_whose_files_no_longer_match_its_digest_is_not_trusted() -> None:
    manifest = sample_manifest()
    files = json.loads(manifest.to_bytes())["files"]
    files[0]["size"] += 1
    assert ArtifactManifest.from_bytes(edited(manifest, files=files)) is None


def test_manifest_of_another_format_is_not_read() -> None:
    manifest = sample_manifest()
    assert ArtifactManifest.from_bytes(edited(manifest, format=MANIFEST_FORMAT + 1)) is None


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "/etc/passwd", "a//b", "a\\b"])
def test_manifest_naming_a_hostile_path_is_not_read(hostile: str) -> None:
    """A manifest in the store is input too; its paths must not steer later reads or writes."""
    bad = ArtifactManifest("runs:/r1/model", "/x", "s3://m/x", (entry(hostile, b"x"),))
    raw = json.dumps(
        {
            "format": MANIFEST_FORMAT,
            "source": bad.source,
            "location": bad.location,
            "uri": bad.uri,
            "digest": artifact_digest(bad.files),
            "files": [f.to_dict() for f in bad.files],
        }
    ).encode()
    assert ArtifactManifest.from_bytes(raw) is None


@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b"{}", b'{"format": 1, "files": 3}'])
def test_unreadable_manifests_mean_copy_again(raw: bytes) -> None:
    assert ArtifactManifest.from_bytes(raw) is None


def test_digest_does_not_depend_on_file_order_or_etags() -> None:
    """The same files must give the same digest on any store, listed in any order."""
    without_etags = [dataclasses.replace(f, etag="") for f in FILES]
    assert artifact_digest(FILES) == artifact_digest(reversed(FILES))
    assert artifact_digest(FILES) == artifact_digest(without_etags)
    assert artifact_digest(FILES).startswith("sha256:")


@pytest.mark.parametrize(
    "changed",
    [
        dataclasses.replace(FILES[1], size=FILES[1].size + 1),
        dataclasses.replace(FILES[1], sha256=hashlib.sha256(b"other").hexdigest()),
        dataclasses.replace(FILES[1], path="model2.pkl"),
    ],
    ids=["size", "sha256", "path"],
)
def test_digest_changes_when_any_file_changes(changed: FileEntry) -> None:
    assert artifact_digest((FILES[0], changed, FILES[2])) != artifact_digest(FILES)


def test_digest_changes_when_a_file_is_added_or_dropped() -> None:
    assert artifact_digest(FILES[:2]) != artifact_digest(FILES)
    assert artifact_digest([*FILES, entry("extra", b"")]) != artifact_digest(FILES)
