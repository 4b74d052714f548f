"""Accengage's three daily exports, as Accengage's SFTP interconnection guide documents them.

Source: Accengage's "SFTP Interconnection" guide (no public page: Accengage sends it to its
customers). Files ``exportMessagesStatistics_{app-id}_{YYYYMMDD}.csv``,
``exportDevicesReactions_{app-id}_{YYYYMMDD}.csv`` and ``exportDevices_{app-id}_{YYYYMMDD}.csv``
in ``ACCENGAGE_SFTP_REMOTE_DIR``, one per app and day, gzipped (``.csv.gz``) by the vendor after
24 hours: whichever is there loads, never both (the plain file while it exists). Semicolon
separators, double-quoted fields, ``0``/``1`` flags (BOOLEAN), decimal commas in
latitude/longitude/altitude (``48,869``), and dates in GMT+1 without an offset: stored as UTC
(``2014-11-13 18:30:00`` -> ``17:30:00``); a partition's day is the vendor's GMT+1 day (the
partitions' time zone is ``Etc/GMT-1``).

Every table carries ``app_id`` (a brand has several apps, each with its own files: partitions are
(date, app), so one app's day can be re-run alone). The client-id column's name differs per app
(``[member_id]`` in the document): set it per app in ``ACCENGAGE_MEMBER_ID_COLUMNS``
(``app=column,...``, default ``member_id``); it is stored as ``member_id``. Columns beyond the
documented ones (custom data fields) are kept in the JSON column ``custom_data``.

Keys (``__sync_key``, MD5 over the raw text, ``:``-separated, missing = ''), UPSERT:

- ``message_statistics``: app + file date + ``message_id``. A file holds one day's counts per
  message (reactions arriving the day after the send are in the next day's file, with 0 sent):
  a message has one row per app and day, and summing the days gives its totals.
- ``device_reactions``: app + ``device_id`` + ``message_id`` + ``sending_date``: one targeting of
  a device by a message; a reaction reported in a later day's file updates that row.
- ``devices``: app + ``device_id``: the device's latest known state; the newer file wins.
"""

from __future__ import annotations

from platform_assets.core import checks
from platform_assets.core.deliveries import Delivery, DeviceUpdates, FileStyle, StaticList
from platform_assets.core.kinds import INTEGER, TEXT, Kind
from platform_assets.core.sources import VendorSource
from platform_assets.core.specs import (
    APP_FIELD,
    DAY_FIELD,
    Column,
    CsvDialect,
    Extras,
    KeyPart,
    Md5Key,
    TableSpec,
    VendorDocument,
)

DOCUMENT = VendorDocument(
    "Accengage: SFTP Interconnection (exports and import flows specifications)"
)
NAME = "accengage"
DIALECT = CsvDialect(delimiter=";")
VENDOR_OFFSET = "+01:00"
"""GMT+1, as the document says (a fixed offset: the document names no daylight-saving rule)."""
PARTITION_TIMEZONE = "Etc/GMT-1"
"""The IANA name of the fixed GMT+1 zone (POSIX signs are inverted)."""
MEMBER_ID = "member_id"

FLAG = Kind("BOOLEAN", checks.boolean("1", "0"))
"""Accengage's flags: ``1`` or ``0``."""
LOCAL_TIME = Kind("TIMESTAMP", checks.local_timestamp(), utc_offset=VENDOR_OFFSET)
"""A date and time in GMT+1 without an offset (``2014-11-13 18:30:00``), stored as UTC."""
COMMA_NUMBER = Kind("DOUBLE", checks.number(decimal_comma=True), decimal_comma=True)
"""A measurement written with a decimal comma (``48,869``)."""


def _field(name: str, kind: Kind = TEXT, *, required: bool = False) -> Column:
    """A documented field; its column's name has ``_`` for the ``-`` some headers hold."""
    db_name = name.replace("-", "_")
    return Column(db_name, kind, source=name if db_name != name else None, required=required)


def _table(
    table: str,
    pattern: str,
    description: str,
    fields: tuple[Column, ...],
    key_parts: tuple[str, ...],
    key_reason: str,
) -> TableSpec:
    """An Accengage export: the app id, its documented ``fields``, the undocumented columns as
    JSON, then ``__sync_key`` over ``key_parts``."""
    names = {APP_FIELD: "app", DAY_FIELD: "file date"}
    return TableSpec(
        source=NAME,
        schema="accengage",
        table=table,
        description=(
            f"{description} Loaded daily per app from {pattern} (or .csv.gz); UPSERT on "
            f"__sync_key = MD5({' : '.join(names.get(p, p) for p in key_parts)}): {key_reason}"
        ),
        file_pattern=pattern.replace("{app-id}", "{APP_ID}").replace("{date}", "{YYYYMMDD}"),
        columns=(
            Column("app_id", source=APP_FIELD, description="Accengage app id (file name)."),
            *fields,
            Extras("custom_data", description="Columns the document does not list, as JSON."),
            Md5Key(
                "__sync_key",
                tuple(KeyPart(p) for p in key_parts),
                description="UPSERT key: MD5 of "
                + " + ':' + ".join(names.get(p, p) for p in key_parts)
                + ".",
            ),
        ),
        key="__sync_key",
        dialect=DIALECT,
        gzip_variant=True,
        document=DOCUMENT,
    )


MESSAGE_STATISTICS = _table(
    "message_statistics",
    "exportMessagesStatistics_{app-id}_{date}.csv",
    "Accengage message statistics: one row per message (push, in-app, automated...) per app and "
    "day, with that day's targets, bounces, messages sent and reactions (GMT+1 day).",
    (
        _field("message_id", required=True),
        _field("message_name"),
        _field("message_type"),
        _field("campaign_id"),
        _field("campaign_name"),
        _field("send_date", LOCAL_TIME),
        _field("number_of_targets", INTEGER),
        _field("number_of_bounces", INTEGER),
        _field("number_of_messages_sent", INTEGER),
        _field("number_of_reactions", INTEGER),
    ),
    (APP_FIELD, DAY_FIELD, "message_id"),
    "the file holds one day's counts per message.",
)
DEVICE_REACTIONS = _table(
    "device_reactions",
    "exportDevicesReactions_{app-id}_{date}.csv",
    "Accengage device reactions: one row per device a message targeted, with opt-in, bounce "
    "and whether and when the device reacted.",
    (
        _field(MEMBER_ID),
        _field("device_id", required=True),
        _field("message_id", required=True),
        _field("message_name"),
        _field("campaign_id"),
        _field("campaign_name"),
        _field("optin", FLAG),
        _field("bounce", FLAG),
        _field("reaction", FLAG),
        _field("sending_date", LOCAL_TIME, required=True),
        _field("reaction_date", LOCAL_TIME),
    ),
    (APP_FIELD, "device_id", "message_id", "sending_date"),
    "one targeting of a device; a later reaction updates it.",
)
DEVICES = _table(
    "devices",
    "exportDevices_{app-id}_{date}.csv",
    "Accengage devices: the latest known state of each device that opened an app (visits, "
    "install and last open, model, OS, language, location, push opt-ins, client id, custom data).",
    (
        _field("device_id", required=True),
        _field("IDFA"),
        _field("token"),
        _field("number_of_visits", INTEGER),
        _field("install_date", LOCAL_TIME),
        _field("last_opened", LOCAL_TIME),
        _field("device_model"),
        _field("os_version"),
        _field("language"),
        _field("bundle_version"),
        _field("latitude", COMMA_NUMBER),
        _field("longitude", COMMA_NUMBER),
        _field("altitude", COMMA_NUMBER),
        _field("geolocation_date", LOCAL_TIME),
        _field("sdk_version"),
        _field("feedback", INTEGER),
        _field("timezone"),
        _field("system_push_opt-in", FLAG),
        _field("enabled_push", FLAG),
        _field("enabled_inapps", FLAG),
        _field("country_code"),
        _field(MEMBER_ID),
    ),
    (APP_FIELD, "device_id"),
    "a device's latest state; the newer file wins.",
)

TABLES: tuple[TableSpec, ...] = (MESSAGE_STATISTICS, DEVICE_REACTIONS, DEVICES)

# -- the brand's imports into Accengage (sections 5 and 6) --------------------------------------
# ";"-separated, every field double-quoted, dates as "2016-12-13 20:00:00" in GMT+1; an empty
# .txt with the CSV's name is uploaded after the CSV. The member-id column is written under each
# app's own header (ACCENGAGE_MEMBER_ID_COLUMNS).
IMPORT_STYLE = FileStyle(
    delimiter=";",
    quote_all=True,
    null_text="",
    timestamp="local",
    timezone=PARTITION_TIMEZONE,
    marker=True,
)
SMS_ORDERS = "deliveries.accengage_sms_orders"
"""The demo's model: one row per app, member and day on which the member ordered through an SMS
(Attentive or Postscript), with that day's last order."""

_SMS_ORDER_FIELDS = {  # what both imports carry, from the same relation
    "vendor": NAME,
    "style": IMPORT_STYLE,
    "relation": SMS_ORDERS,
    "keys": (MEMBER_ID,),
    "custom_fields": ("last_sms_order_at", "last_sms_order_value", "last_sms_vendor"),
    "document": DOCUMENT,
}

DELIVERIES: tuple[Delivery, ...] = (
    StaticList(
        name="sms_converters",
        description=(
            "Static list of the app's members who ordered through an SMS in the 30 days up to "
            "the partition's day, with their last SMS order (truncate-insert on Accengage's "
            "side; expires 30 days after the day)."
        ),
        # the list's name has no "_": the nomenclature separates its parts with "_"
        file_name="staticlist_smsconverters_{app-id}_{YYYYMMDDhhmmss}.csv",
        window_days=30,
        expiry_days=30,
        **_SMS_ORDER_FIELDS,  # type: ignore[arg-type]
    ),
    DeviceUpdates(
        name="update_devices",
        description=(
            "Device updates: the last SMS order (time, value, vendor) of the app's members who "
            "ordered through an SMS on the partition's day."
        ),
        file_name="updateDevices_{app-id}_{YYYYMMDD}.csv",
        **_SMS_ORDER_FIELDS,  # type: ignore[arg-type]
    ),
)

SOURCE = VendorSource(
    name=NAME,
    tables=TABLES,
    description="Accengage (push): message statistics, device reactions and devices, per app.",
    document=DOCUMENT,
    timezone=PARTITION_TIMEZONE,
    schedule_cron="0 6 * * *",  # 06:00 GMT+1, after the 01:00-04:00 export window
    arrival_cron="0 5 * * *",  # due by 05:00 GMT+1 (exports run 01:00-04:00, document 002)
    per_app_columns=(MEMBER_ID,),
    deliveries=DELIVERIES,
)
