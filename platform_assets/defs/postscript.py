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

from platform_assets.core.kinds import ANY_BOOLEAN, INTEGER, TIMESTAMP
from platform_assets.core.sources import VendorSource
from platform_assets.core.specs import Column, TableSpec, VendorDocument

DOCUMENT = VendorDocument(
    "Daasity: Postscript (beta), Integration Specifications (Postscript Schema)",
    "https://help.daasity.com/core-concepts/data-integrations/setup-guides/digital-integrations/"
    "postscript-beta",
)
NAME = "postscript"

_SYNC_STAMPS = (
    Column("_UPDATED_AT", TIMESTAMP, required=True),  # the version: the latest one wins
    Column("__SYNCED_AT", TIMESTAMP),
)


def _table(table: str, key: str, description: str, columns: tuple[Column, ...]) -> TableSpec:
    """A Postscript table: its documented ``columns``, then the two sync stamps every table has."""
    return TableSpec(
        source=NAME,
        schema="postscript",
        table=table,
        description=(
            f"{description} Loaded daily from postscript_{table}_YYYYMMDD.csv; UPSERT on {key}, "
            "the row with the latest _UPDATED_AT wins whatever order files arrive in."
        ),
        file_pattern=f"postscript_{table}_{{YYYYMMDD}}.csv",
        columns=(*columns, *_SYNC_STAMPS),
        key=key,
        version_column="_UPDATED_AT",
        document=DOCUMENT,
    )


FCT_ATTRIBUTION = _table(
    "fct_attribution",
    "ATTRIBUTION_ID",
    "Postscript order attribution: one row per order Postscript attributes to an SMS message "
    "or subscriber action, with the amount in cents and the minutes from the action.",
    (
        Column("ATTRIBUTION_ID", required=True),
        Column("MESSAGE_ID"),
        Column("ORDER_ID"),
        Column("AMOUNT_IN_CENTS", INTEGER),
        Column("ACTION_TYPE"),
        Column("COUPON_USED", ANY_BOOLEAN),
        Column("SHOP_ID"),
        Column("SUBSCRIBER_ID"),
        Column("CUSTOMER_ID"),
        Column("MINUTES_FROM_ACTION", INTEGER),
        Column("ORDER_CREATED_AT", TIMESTAMP),
    ),
)
DIM_MESSAGES = _table(
    "dim_messages",
    "MESSAGE_ID",
    "Postscript messages (dimension): one row per SMS/MMS message with its text, media, "
    "direction, service, type and failure.",
    (
        Column("MESSAGE_ID", required=True),
        Column("SHOP_ID"),
        Column("POSTSCRIPT_MESSAGE_ID"),
        Column("DIRECTION"),
        Column("MESSAGE_SERVICE"),
        Column("FAILED_AT", TIMESTAMP),
        Column("FAILED", ANY_BOOLEAN),
        Column("TEXT"),
        Column("MEDIA_URL"),
        Column("TYPE"),
        Column("TYPE_NAME"),
    ),
)
FCT_MESSAGES = _table(
    "fct_messages",
    "MESSAGE_ID",
    "Postscript messages (fact): one row per message sent or received, with the shop, the "
    "subscriber and when it was created.",
    (
        Column("MESSAGE_ID", required=True),
        Column("SHOP_ID"),
        Column("DIRECTION"),
        Column("SUBSCRIBER_ID"),
        Column("CREATED_AT", TIMESTAMP),
    ),
)
DIM_PLATFORM_ACTION_DETAILS = _table(
    "dim_platform_action_details",
    "PLATFORM_ACTION_DETAIL_ID",
    "Postscript platform action details: the type and the raw ACTION_DATA (text, JSON where it "
    "parses) of each kind of subscriber action a shop records.",
    (
        Column("PLATFORM_ACTION_DETAIL_ID", required=True),
        Column("ACTION_TYPE"),
        Column("SHOP_ID"),
        Column("ACTION_DATA"),
    ),
)
DIM_PLATFORM_ACTIONS = _table(
    "dim_platform_actions",
    "PLATFORM_ACTION_ID",
    "Postscript platform actions: one row per action a subscriber performed (click, order, "
    "...), with the message and the action detail it belongs to.",
    (
        Column("PLATFORM_ACTION_ID", required=True),
        Column("PLATFORM_ACTION_DETAIL_ID"),
        Column("ACTION_TYPE"),
        Column("SHOP_ID"),
        Column("SUBSCRIBER_ID"),
        Column("MESSAGE_ID"),
        Column("ACTION_PERFORMED_AT", TIMESTAMP),
    ),
)
DIM_SHOPS = _table(
    "dim_shops",
    "SHOP_ID",
    "Postscript shops: one row per shop (the brand's store) with its name.",
    (Column("SHOP_ID", required=True), Column("ENTITY_NAME")),
)
DIM_SUBSCRIBERS = _table(
    "dim_subscribers",
    "SUBSCRIBER_ID",
    "Postscript subscribers: one row per SMS subscriber with phone, opt-out state and reason, "
    "international and transactional-only flags.",
    (
        Column("SUBSCRIBER_ID", required=True),
        Column("POSTSCRIPT_SUBSCRIBER_ID"),
        Column("SHOP_ID"),
        Column("IS_INTERNATIONAL", ANY_BOOLEAN),
        Column("DO_NOT_SEND_AT", TIMESTAMP),
        Column("TRANSACTIONAL_ONLY", ANY_BOOLEAN),
        Column("DO_NOT_SEND", ANY_BOOLEAN),
        Column("DO_NOT_SEND_REASON"),
        Column("PHONE_NUMBER"),
        Column("CREATED_AT", TIMESTAMP),
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
