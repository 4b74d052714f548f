"""Attentive's two SFTP feeds, exactly as Daasity's loader documents them.

Source: Daasity's "Attentive: Integration Specifications" (Attentive via Daasity's CSV loader;
:data:`DOCUMENT` has the page's address). Both
tables are UPSERT on ``__sync_key``; both keys are MD5 over the raw CSV text of the documented
columns, ``:``-separated, with the first 19 characters of ``timestamp``. The document's
``SUBSTRING(timestamp1,19)`` in the notifications ``__sync_key`` row is a typo for
``SUBSTRING(timestamp,1,19)``: the key equals ``notification_id``.
"""

from __future__ import annotations

from platform_assets.core import checks
from platform_assets.core.kinds import EMAIL, MONEY, PHONE, TIMESTAMP
from platform_assets.core.sources import VendorSource
from platform_assets.core.specs import Column, KeyPart, Md5Key, TableSpec, VendorDocument

DOCUMENT = VendorDocument(
    "Daasity: Attentive, Integration Specifications (SFTP data feeds via the CSV loader)",
    "https://help.daasity.com/core-concepts/data-integrations/setup-guides/digital-integrations/"
    "attentive-mobile/integration-specifications",
)
NAME = "attentive"

_CONVERSION_KEY_PARTS = (KeyPart("phone"), KeyPart("timestamp", 19))
_NOTIFICATION_KEY_PARTS = (
    KeyPart("type"),
    KeyPart("phone"),
    KeyPart("email"),
    KeyPart("timestamp", 19),
)

CONVERSIONS = TableSpec(
    source=NAME,
    schema="attentive_mobile",
    table="conversions",
    description=(
        "Attentive mobile conversions: one row per purchase Attentive attributes to an SMS "
        "subscriber (Conversions data feed), with the amount and the message that drove it. "
        "Loaded daily from attentive_conversions_YYYYMMDD.csv; UPSERT on __sync_key = "
        "MD5(phone + ':' + SUBSTRING(timestamp,1,19))."
    ),
    file_pattern="attentive_conversions_{YYYYMMDD}.csv",
    columns=(
        Md5Key("conversion_id", _CONVERSION_KEY_PARTS, description="MD5 of phone and time."),
        Column("phone", PHONE, description="Subscriber phone number (E.164)."),
        Column("client_id", description="The brand's client id for the subscriber."),
        Column("amount", MONEY, description="Order amount."),
        Column("conversion_at", TIMESTAMP, "timestamp", description="When (UTC).", required=True),
        Column("message_id", description="Attentive message the conversion is attributed to."),
        Column("message_name"),
        Column("message_text"),
        Column("message_type"),
        Column("message_subtype"),
        Md5Key("__sync_key", _CONVERSION_KEY_PARTS, description="UPSERT key (= conversion_id)."),
    ),
    key="__sync_key",
    document=DOCUMENT,
)

NOTIFICATIONS = TableSpec(
    source=NAME,
    schema="attentive_mobile",
    table="notifications",
    description=(
        "Attentive mobile notifications: one row per subscriber event of the General Events "
        "feed (message sent or clicked, join, opt-out, email events), with the message and "
        "creative. Loaded daily from attentive_email_SMS_YYYYMMDD.csv; UPSERT on __sync_key = "
        "MD5(type + ':' + phone + ':' + email + ':' + SUBSTRING(timestamp,1,19))."
    ),
    file_pattern="attentive_email_SMS_{YYYYMMDD}.csv",
    columns=(
        Md5Key(
            "notification_id",
            _NOTIFICATION_KEY_PARTS,
            description="MD5 of type, phone, email, time.",
        ),
        Column("type", description="Event type.", required=True),
        Column("phone", PHONE, description="Subscriber phone number (E.164), if an SMS one."),
        Column("client_id"),
        Column("email", EMAIL, description="Subscriber email, if an email subscriber."),
        Column("event_at", TIMESTAMP, "timestamp", description="When (UTC).", required=True),
        Column("join_source", description="Sign-up source, for join events."),
        Column("message_id"),
        Column("message_name"),
        Column("message_text"),
        Column("message_type"),
        Column("message_subtype"),
        Column("message_at", TIMESTAMP, "message_start", description="Message start."),
        Column("creative_id"),
        Column("creative_name"),
        Column("creative_type"),
        Column("creative_subtype"),
        Md5Key(
            "__sync_key", _NOTIFICATION_KEY_PARTS, description="UPSERT key (= notification_id)."
        ),
    ),
    key="__sync_key",
    row_rules=(checks.one_of_present("phone", "email"),),
    document=DOCUMENT,
)

TABLES: tuple[TableSpec, ...] = (CONVERSIONS, NOTIFICATIONS)

SOURCE = VendorSource(
    name=NAME,
    tables=TABLES,
    description="Attentive (SMS and email marketing): conversions and subscriber events, daily.",
    document=DOCUMENT,
    timezone="UTC",
    schedule_cron="0 7 * * *",
    # "a historical file ... with a maximum size of 2GB per file": a row's day is its event time
    history_day_columns={"conversions": "timestamp", "notifications": "timestamp"},
)
