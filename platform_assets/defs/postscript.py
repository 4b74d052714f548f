"""Postscript's seven tables, as Daasity's Postscript integration documents them.

Source: Daasity's "Postscript: Integration Specifications" (its Postscript Schema). Columns are
exactly the documented ones, upper case as documented. The document gives names only; the types
follow the issue: ids as text, ``*_IN_CENTS`` and minute counts as integers, the flags as
BOOLEAN, ``*_AT`` as TIMESTAMP (ISO 8601; without an offset a time is taken as UTC),
``ACTION_DATA`` as the text it was sent as (JSON where it parses: ``ACTION_DATA::JSON`` /
``json_valid(ACTION_DATA)`` in SQL).

Files: ``postscript_<table>_YYYYMMDD.csv`` in ``POSTSCRIPT_SFTP_REMOTE_DIR``; the pattern is a per
table setting (``POSTSCRIPT_<TABLE>_FILE_PATTERN``, e.g. ``POSTSCRIPT_DIM_SHOPS_FILE_PATTERN``).

Update method: UPSERT on the table's own id, and the row with the latest ``_UPDATED_AT`` wins,
whatever order the files arrive in (equal ``_UPDATED_AT``: the newer file, then the later row).
``dim_messages`` and ``fct_messages`` both key on ``MESSAGE_ID``, each in its own table.
"""

from __future__ import annotations

import pandera.pandas as pa

from platform_assets.core import checks
from platform_assets.core.sources import VendorSource
from platform_assets.core.specs import Column, TableSpec, VendorDocument

DOCUMENT = VendorDocument(
    "Daasity: Postscript (beta), Integration Specifications (Postscript Schema)",
    "https://help.daasity.com/core-concepts/data-integrations/setup-guides/digital-integrations/"
    "postscript-beta",
)
NAME = "postscript"

# column kinds: (DuckDB type, rule)
_KINDS: dict[str, tuple[str, pa.Check | None]] = {
    "id": ("VARCHAR", None),
    "text": ("VARCHAR", None),
    "cents": ("BIGINT", checks.integer()),
    "int": ("BIGINT", checks.integer()),
    "bool": ("BOOLEAN", checks.boolean_any()),
    "ts": ("TIMESTAMP", checks.iso_timestamp()),
}
_ALWAYS = (("_UPDATED_AT", "ts"), ("__SYNCED_AT", "ts"))


def _table(
    table: str, key: str, description: str, columns: tuple[tuple[str, str], ...]
) -> TableSpec:
    """A Postscript table: ``columns`` as (documented name, kind), then the two sync stamps."""
    cols = (*columns, *_ALWAYS)
    rules: dict[str, pa.Column] = {}
    for name, kind in cols:
        _, check = _KINDS[kind]
        required = name in (key, "_UPDATED_AT")
        rules[name] = checks.text(*([check] if check else []), required=required)
    return TableSpec(
        source=NAME,
        schema="postscript",
        table=table,
        description=(
            f"{description} Loaded daily from postscript_{table}_YYYYMMDD.csv; UPSERT on {key}, "
            "the row with the latest _UPDATED_AT wins whatever order files arrive in."
        ),
        file_pattern=f"postscript_{table}_{{YYYYMMDD}}.csv",
        columns=tuple(Column(name, _KINDS[kind][0]) for name, kind in cols),
        key=key,
        version_column="_UPDATED_AT",
        row_schema=pa.DataFrameSchema(rules, name=f"postscript_{table}_csv"),
        document=DOCUMENT,
    )


FCT_ATTRIBUTION = _table(
    "fct_attribution",
    "ATTRIBUTION_ID",
    "Postscript order attribution: one row per order Postscript attributes to an SMS message "
    "or subscriber action, with the amount in cents and the minutes from the action.",
    (
        ("ATTRIBUTION_ID", "id"),
        ("MESSAGE_ID", "id"),
        ("ORDER_ID", "id"),
        ("AMOUNT_IN_CENTS", "cents"),
        ("ACTION_TYPE", "text"),
        ("COUPON_USED", "bool"),
        ("SHOP_ID", "id"),
        ("SUBSCRIBER_ID", "id"),
        ("CUSTOMER_ID", "id"),
        ("MINUTES_FROM_ACTION", "int"),
        ("ORDER_CREATED_AT", "ts"),
    ),
)
DIM_MESSAGES = _table(
    "dim_messages",
    "MESSAGE_ID",
    "Postscript messages (dimension): one row per SMS/MMS message with its text, media, "
    "direction, service, type and failure.",
    (
        ("MESSAGE_ID", "id"),
        ("SHOP_ID", "id"),
        ("POSTSCRIPT_MESSAGE_ID", "id"),
        ("DIRECTION", "text"),
        ("MESSAGE_SERVICE", "text"),
        ("FAILED_AT", "ts"),
        ("FAILED", "bool"),
        ("TEXT", "text"),
        ("MEDIA_URL", "text"),
        ("TYPE", "text"),
        ("TYPE_NAME", "text"),
    ),
)
FCT_MESSAGES = _table(
    "fct_messages",
    "MESSAGE_ID",
    "Postscript messages (fact): one row per message sent or received, with the shop, the "
    "subscriber and when it was created.",
    (
        ("MESSAGE_ID", "id"),
        ("SHOP_ID", "id"),
        ("DIRECTION", "text"),
        ("SUBSCRIBER_ID", "id"),
        ("CREATED_AT", "ts"),
    ),
)
DIM_PLATFORM_ACTION_DETAILS = _table(
    "dim_platform_action_details",
    "PLATFORM_ACTION_DETAIL_ID",
    "Postscript platform action details: the type and the raw ACTION_DATA (text, JSON where it "
    "parses) of each kind of subscriber action a shop records.",
    (
        ("PLATFORM_ACTION_DETAIL_ID", "id"),
        ("ACTION_TYPE", "text"),
        ("SHOP_ID", "id"),
        ("ACTION_DATA", "text"),
    ),
)
DIM_PLATFORM_ACTIONS = _table(
    "dim_platform_actions",
    "PLATFORM_ACTION_ID",
    "Postscript platform actions: one row per action a subscriber performed (click, order, "
    "...), with the message and the action detail it belongs to.",
    (
        ("PLATFORM_ACTION_ID", "id"),
        ("PLATFORM_ACTION_DETAIL_ID", "id"),
        ("ACTION_TYPE", "text"),
        ("SHOP_ID", "id"),
        ("SUBSCRIBER_ID", "id"),
        ("MESSAGE_ID", "id"),
        ("ACTION_PERFORMED_AT", "ts"),
    ),
)
DIM_SHOPS = _table(
    "dim_shops",
    "SHOP_ID",
    "Postscript shops: one row per shop (the brand's store) with its name.",
    (("SHOP_ID", "id"), ("ENTITY_NAME", "text")),
)
DIM_SUBSCRIBERS = _table(
    "dim_subscribers",
    "SUBSCRIBER_ID",
    "Postscript subscribers: one row per SMS subscriber with phone, opt-out state and reason, "
    "international and transactional-only flags.",
    (
        ("SUBSCRIBER_ID", "id"),
        ("POSTSCRIPT_SUBSCRIBER_ID", "id"),
        ("SHOP_ID", "id"),
        ("IS_INTERNATIONAL", "bool"),
        ("DO_NOT_SEND_AT", "ts"),
        ("TRANSACTIONAL_ONLY", "bool"),
        ("DO_NOT_SEND", "bool"),
        ("DO_NOT_SEND_REASON", "text"),
        ("PHONE_NUMBER", "text"),
        ("CREATED_AT", "ts"),
    ),
)

TABLES: tuple[TableSpec, ...] = (
    FCT_ATTRIBUTION,
    DIM_MESSAGES,
    FCT_MESSAGES,
    DIM_PLATFORM_ACTION_DETAILS,
    DIM_PLATFORM_ACTIONS,
    DIM_SHOPS,
    DIM_SUBSCRIBERS,
)

SOURCE = VendorSource(
    name=NAME,
    tables=TABLES,
    description="Postscript (SMS marketing): messages, subscribers, shops and attribution, daily.",
    document=DOCUMENT,
    timezone="UTC",
    schedule_cron="0 7 * * *",
)
