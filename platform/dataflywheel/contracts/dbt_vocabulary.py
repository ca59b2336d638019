"""The dbt project's vocabulary, generated from ``contracts/vocabulary.py``.

dbt cannot import Python, so ``dataflywheel setup`` writes ``macros/vocabulary.sql``: models name a
list (``event_type in ({{ engagement_events() }})``) instead of copying it, and YAML tests check
columns with ``in_vocabulary``. ``assets_tests/test_contract.py`` fails when the file is stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from string import Template

from dataflywheel import settings
from dataflywheel.contracts import vocabulary
from dataflywheel.contracts.vocabulary import PRODUCT_OF_EVENT, EventType, ItemType, Product, Role, Surface

DEFAULT_PATH = settings.DBT_PROJECT_DIR / "macros" / "vocabulary.sql"

# Each enum by the column it fills: its list macro is the plural (`roles()`), a value `role_developer()`.
ENUM_OF_COLUMN: dict[str, type[StrEnum]] = {
    "event_type": EventType,
    "item_type": ItemType,
    "product": Product,
    "surface": Surface,
    "role": Role,
}

# string.Template's $names leave Jinja's braces alone.
_MACRO = Template("{% macro ${name}() %}${body}{% endmacro %}")
_PRODUCT_WHEN = Template("        when {{ event_type_column }} in ($events) then '$product'")
_FILE = Template("""\
{#- Generated from platform/dataflywheel/contracts/vocabulary.py by `dataflywheel setup`
    (contracts/dbt_vocabulary.py). Do not edit by hand: edit vocabulary.py and run the setup. -#}

{#- Lists of quoted values, for `column in (...)`. -#}
$lists

{#- Single quoted values, for `column = ...`. -#}
$values

{#- The product an event type belongs to (null for an unknown event type). -#}
{% macro product_of(event_type_column) -%}
    case
$product_whens
    end
{%- endmacro %}

{#- Rows whose non-null column value is not in the named vocabulary, one of the lists above. -#}
{% test in_vocabulary(model, column_name, vocabulary) %}
{%- set lists = {
$dispatch
} -%}
{%- if vocabulary not in lists -%}
    {{ exceptions.raise_compiler_error(
        "in_vocabulary: unknown vocabulary '" ~ vocabulary ~ "'; known: " ~ (lists.keys() | sort | join(', '))
    ) }}
{%- endif %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null and {{ column_name }} not in ({{ lists[vocabulary] }})
{% endtest %}
""")


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in sorted(values))


def _lists() -> dict[str, str]:
    """Every list macro's name and body: the enums, then the event groups (JIRA_EVENTS -> jira_events)."""
    enums = {f"{column}s": _sql_list(enum) for column, enum in ENUM_OF_COLUMN.items()}
    groups = {
        name.lower(): _sql_list(members)
        for name, members in sorted(vars(vocabulary).items())
        if isinstance(members, frozenset)
    }
    return enums | groups


def render() -> str:
    lists = _lists()
    events_of_product = {p: [e for e, product in PRODUCT_OF_EVENT.items() if product is p] for p in Product}
    return _FILE.substitute(
        lists="\n".join(_MACRO.substitute(name=name, body=body) for name, body in lists.items()),
        values="\n".join(
            _MACRO.substitute(name=f"{column}_{member.name.lower()}", body=f"'{member}'")
            for column, enum in ENUM_OF_COLUMN.items()
            for member in enum
        ),
        product_whens="\n".join(
            _PRODUCT_WHEN.substitute(events=_sql_list(events), product=product)
            for product, events in sorted(events_of_product.items())
            if events
        ),
        dispatch=",\n".join(f"    '{name}': {name}()" for name in lists),
    )


def write(path: Path = DEFAULT_PATH) -> bool:
    """Write the macro file if it is missing or stale; return whether it wrote."""
    text = render()
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True
