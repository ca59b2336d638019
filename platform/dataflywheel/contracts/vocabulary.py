"""Every vocabulary of the platform, once: event types and their groups, products, item types,
surfaces and roles.

The simulator, validation, the feature definitions, the model's inputs and the dbt project
all take their lists from here (dbt through the generated ``macros/vocabulary.sql``, see
``contracts.dbt_vocabulary``), so a value added or renamed here reaches every one of them.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    ISSUE_VIEWED = "issue_viewed"
    ISSUE_CREATED = "issue_created"
    ISSUE_TRANSITIONED = "issue_transitioned"
    ISSUE_COMMENTED = "issue_commented"
    PAGE_VIEWED = "page_viewed"
    PAGE_CREATED = "page_created"
    PAGE_EDITED = "page_edited"
    PAGE_COMMENTED = "page_commented"
    PAGE_SHARED = "page_shared"
    SEARCH_PERFORMED = "search_performed"
    REC_IMPRESSION = "rec_impression"
    REC_CLICK = "rec_click"


class ItemType(StrEnum):
    JIRA_ISSUE = "jira_issue"
    CONFLUENCE_PAGE = "confluence_page"


class Product(StrEnum):
    """Which part of the product an event belongs to."""

    JIRA = "jira"
    CONFLUENCE = "confluence"
    HOME_FEED = "home_feed"
    SEARCH = "search"


class Surface(StrEnum):
    HOME_FEED = "home_feed"
    SEARCH = "search"
    DIRECT = "direct"
    NOTIFICATION = "notification"


class Role(StrEnum):
    DEVELOPER = "developer"
    PRODUCT_MANAGER = "product_manager"
    DESIGNER = "designer"
    SUPPORT = "support"
    MARKETING = "marketing"


JIRA_EVENTS = frozenset(e for e in EventType if e.value.startswith("issue_"))
CONFLUENCE_EVENTS = frozenset(e for e in EventType if e.value.startswith("page_"))
FEED_EVENTS = frozenset({EventType.REC_IMPRESSION, EventType.REC_CLICK})
VIEW_EVENTS = frozenset({EventType.ISSUE_VIEWED, EventType.PAGE_VIEWED})
# Opening an item, whatever the way in: a view, or a click on a recommendation.
OPEN_EVENTS = VIEW_EVENTS | {EventType.REC_CLICK}
EDIT_EVENTS = frozenset({EventType.ISSUE_TRANSITIONED, EventType.PAGE_EDITED})
COMMENT_EVENTS = frozenset({EventType.ISSUE_COMMENTED, EventType.PAGE_COMMENTED})
SHARE_EVENTS = frozenset({EventType.PAGE_SHARED})
# Acting on an item after seeing it: what counts as "engaged" for a recommendation.
ENGAGEMENT_EVENTS = EDIT_EVENTS | COMMENT_EVENTS | SHARE_EVENTS
# A user touching an item (an impression is shown to the user, not acted on; a search has no item).
INTERACTION_EVENTS = frozenset(EventType) - {EventType.REC_IMPRESSION, EventType.SEARCH_PERFORMED}

PRODUCT_OF_EVENT: dict[EventType, Product] = {
    **{e: Product.JIRA for e in JIRA_EVENTS},
    **{e: Product.CONFLUENCE for e in CONFLUENCE_EVENTS},
    **{e: Product.HOME_FEED for e in FEED_EVENTS},
    EventType.SEARCH_PERFORMED: Product.SEARCH,
}
ITEM_TYPE_OF_EVENT: dict[EventType, ItemType] = {
    **{e: ItemType.JIRA_ISSUE for e in JIRA_EVENTS},
    **{e: ItemType.CONFLUENCE_PAGE for e in CONFLUENCE_EVENTS},
}
