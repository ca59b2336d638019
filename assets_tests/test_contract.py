"""contracts/vocabulary.py is the one home of every vocabulary: the dbt project takes its lists from the
generated macros/vocabulary.sql and copies none, so a value changed in Python reaches every model and test."""

import re

import pytest
import yaml

from dataflywheel import settings
from dataflywheel.contracts import dbt_vocabulary, vocabulary
from dataflywheel.contracts.vocabulary import PRODUCT_OF_EVENT, EventType

PROJECT = settings.DBT_PROJECT_DIR
GENERATED = PROJECT / "macros" / "vocabulary.sql"
ENUM_OF_COLUMN = dbt_vocabulary.ENUM_OF_COLUMN
EVERY_VALUE = {member.value for enum in ENUM_OF_COLUMN.values() for member in enum}
HAND_WRITTEN_SQL = sorted(
    path for folder in ("models", "tests", "macros") for path in (PROJECT / folder).rglob("*.sql") if path != GENERATED
)


def quoted_words(text: str) -> set[str]:
    return set(re.findall(r"""['"](\w+)['"]""", text))


def macro_values(text: str) -> dict[str, set[str]]:
    """Each argument-less macro's quoted values: the lists and the single values."""
    return {name: quoted_words(body) for name, body in re.findall(r"{% macro (\w+)\(\) %}(.*?){% endmacro %}", text)}


def test_the_committed_macros_are_generated_from_the_vocabulary():
    assert GENERATED.read_text() == dbt_vocabulary.render(), "stale: run `dataflywheel setup`"


@pytest.mark.parametrize("path", HAND_WRITTEN_SQL, ids=lambda path: path.name)
def test_no_model_test_or_macro_copies_a_vocabulary_value(path):
    assert not quoted_words(path.read_text()) & EVERY_VALUE, "use the macros of macros/vocabulary.sql"


def test_every_vocabulary_column_is_tested_against_its_vocabulary():
    columns = [
        (model["name"], column)
        for yml in sorted((PROJECT / "models").rglob("*.yml"))
        for model in yaml.safe_load(yml.read_text()).get("models", [])
        for column in model.get("columns", [])
        if column["name"] in ENUM_OF_COLUMN
    ]
    assert columns
    for model, column in columns:
        tests = {
            name: spec for test in column.get("data_tests", []) if isinstance(test, dict) for name, spec in test.items()
        }
        where = f"{model}.{column['name']}"
        assert "accepted_values" not in tests, f"{where}: use in_vocabulary"
        assert tests.get("in_vocabulary") == {"arguments": {"vocabulary": f"{column['name']}s"}}, where


def test_the_generated_lists_are_the_python_vocabularies():
    generated = macro_values(dbt_vocabulary.render())
    for column, enum in ENUM_OF_COLUMN.items():
        assert generated[f"{column}s"] == {member.value for member in enum}
        for member in enum:
            assert generated[f"{column}_{member.name.lower()}"] == {member.value}
    groups = {name: members for name, members in vars(vocabulary).items() if isinstance(members, frozenset)}
    assert "ENGAGEMENT_EVENTS" in groups
    for name, members in groups.items():
        assert generated[name.lower()] == {event.value for event in members}, name


def test_product_of_gives_every_event_type_its_python_product():
    whens = re.findall(r"in \(([^)]*)\) then '(\w+)'", dbt_vocabulary.render())
    product_of = {event: product for events, product in whens for event in quoted_words(events)}
    assert product_of == {event.value: product.value for event, product in PRODUCT_OF_EVENT.items()}
    assert set(product_of) == {event.value for event in EventType}
