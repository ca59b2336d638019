"""The event schema is the single source of truth: the dbt project must agree with it."""

import re

import yaml

from dataflywheel import settings
from dataflywheel.events.schema import ENGAGEMENT_EVENTS, EventType, ItemType

MODELS = settings.DBT_PROJECT_DIR / "models"


def accepted_values(model: str, column: str, yml: str) -> set[str]:
    spec = yaml.safe_load((MODELS / yml).read_text())
    columns = next(m for m in spec["models"] if m["name"] == model)["columns"]
    tests = next(c for c in columns if c["name"] == column)["data_tests"]
    return set(next(t["accepted_values"]["arguments"]["values"] for t in tests if isinstance(t, dict)))


def test_dbt_accepts_exactly_the_schema_event_and_item_types():
    assert accepted_values("stg_events", "event_type", "staging/_stg_models.yml") == {e.value for e in EventType}
    assert accepted_values("stg_events", "item_type", "staging/_stg_models.yml") == {t.value for t in ItemType}


def test_engagement_in_the_marts_is_the_schema_engagement():
    for model in ("fct_rec_impressions.sql",):
        sql = (MODELS / "marts" / model).read_text()
        listed = re.search(r"event_type in \(([^)]*)\)", sql).group(1)
        assert set(re.findall(r"'(\w+)'", listed)) == {e.value for e in ENGAGEMENT_EVENTS}
