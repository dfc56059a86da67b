"""Names become safe Kubernetes names; values become inert YAML strings."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from watcher.core.names import MAX_SLUG_LENGTH, check_path_segment, is_dns_label, model_slug
from watcher.core.yaml_text import quote_string, to_yaml
from watcher.errors import InvalidNameError


@pytest.mark.parametrize("name", ["fraud", "churn-model", "a1"])
def test_valid_names_are_kept_as_they_are(name: str) -> None:
    assert model_slug(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "Fraud_Model",
        "../../etc/passwd",
        "a\nb",
        'x"y',
        "{{ config }}",
        "---\nkind: Secret",
        "x" * 10_000,
        "7up",
    ],
)
def test_other_names_fold_to_a_hashed_dns_label(name: str) -> None:
    slug = model_slug(name)
    assert is_dns_label(slug, MAX_SLUG_LENGTH)
    assert "/" not in slug and ".." not in slug


def test_names_that_fold_alike_stay_apart() -> None:
    # All of these fold to the base "fraud-model"; every pair must still differ.
    names = [
        "Fraud_Model",
        "fraud-model",
        "fraud_model",
        "FRAUD-MODEL",
        "fraud model",
        "fraud.model",
    ]
    slugs = {name: model_slug(name) for name in names}
    assert len(set(slugs.values())) == len(names), slugs
    assert slugs["fraud-model"] == "fraud-model"  # a valid label is kept as it is
    assert all(
        slug.startswith("fraud-model-") for name, slug in slugs.items() if name != "fraud-model"
    )


@pytest.mark.parametrize("name", ["", "   ", "../..", "___", "!!!"])
def test_names_without_letters_or_digits_are_refused_clearly(name: str) -> None:
    with pytest.raises(InvalidNameError, match="name"):
        model_slug(name)


@pytest.mark.parametrize("segment", ["", ".", "..", ".git", "a/b", "a\\b", "a\x00"])
def test_unsafe_path_segments_are_refused(segment: str) -> None:
    with pytest.raises(InvalidNameError):
        check_path_segment(segment, "folder")


@given(st.text())
def test_every_string_round_trips_through_yaml(value: str) -> None:
    document = f"key: {quote_string(value)}\nother: 1\n"
    assert yaml.safe_load(document) == {"key": value, "other": 1}


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.one_of(st.text(), st.integers(), st.booleans(), st.lists(st.text(), max_size=3)),
        max_size=5,
    )
)
@example({"0": "", "A\n": ""})  # a key with a trailing newline once rendered plain
def test_mappings_round_trip_and_cannot_add_documents(value: dict[str, object]) -> None:
    document = f"root: {to_yaml(value, 2)}\n"
    documents = list(yaml.safe_load_all(document))
    assert documents == [{"root": value}]


def test_hostile_value_stays_one_string() -> None:
    hostile = 'x"\n---\napiVersion: v1\nkind: Secret\n{{ 7 * 7 }}'
    parsed = yaml.safe_load(f"a: {quote_string(hostile)}")
    assert parsed == {"a": hostile}


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("Ünïcode Modèl", "unicode-model-"),
        ("Crème Brûlée", "creme-brulee-"),
        ("Straße", "strasse-"),
        ("ŁÓDŹ Ørsted", "lodz-orsted-"),
    ],
)
def test_accented_latin_letters_are_transliterated_not_dropped(name: str, head: str) -> None:
    slug = model_slug(name)
    assert slug.startswith(head) and is_dns_label(slug)
    assert len(slug) == len(head) + 8  # the hash of the name as written follows
