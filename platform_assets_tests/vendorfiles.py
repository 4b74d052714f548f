"""Rows and files for Postscript, ASAPP and Accengage, written from the documents with Python's
csv/gzip modules (independent of the platform's code). Each factory returns one valid row as the
vendor would write it; tests override fields to make it invalid or different."""

from __future__ import annotations

import csv
import gzip
import hashlib
from pathlib import Path

Row = dict[str, str | None]

# -- Postscript (004): the documented columns, in document order ------------------------------

POSTSCRIPT_HEADERS: dict[str, list[str]] = {
    "fct_attribution": [
        "ATTRIBUTION_ID",
        "MESSAGE_ID",
        "ORDER_ID",
        "AMOUNT_IN_CENTS",
        "ACTION_TYPE",
        "COUPON_USED",
        "SHOP_ID",
        "SUBSCRIBER_ID",
        "CUSTOMER_ID",
        "MINUTES_FROM_ACTION",
        "ORDER_CREATED_AT",
        "_UPDATED_AT",
        "__SYNCED_AT",
    ],
    "dim_messages": [
        "MESSAGE_ID",
        "SHOP_ID",
        "POSTSCRIPT_MESSAGE_ID",
        "DIRECTION",
        "MESSAGE_SERVICE",
        "FAILED_AT",
        "FAILED",
        "TEXT",
        "MEDIA_URL",
        "TYPE",
        "TYPE_NAME",
        "_UPDATED_AT",
        "__SYNCED_AT",
    ],
    "fct_messages": [
        "MESSAGE_ID",
        "SHOP_ID",
        "DIRECTION",
        "SUBSCRIBER_ID",
        "CREATED_AT",
        "_UPDATED_AT",
        "__SYNCED_AT",
    ],
    "dim_platform_action_details": [
        "PLATFORM_ACTION_DETAIL_ID",
        "ACTION_TYPE",
        "SHOP_ID",
        "ACTION_DATA",
        "_UPDATED_AT",
        "__SYNCED_AT",
    ],
    "dim_platform_actions": [
        "PLATFORM_ACTION_ID",
        "PLATFORM_ACTION_DETAIL_ID",
        "ACTION_TYPE",
        "SHOP_ID",
        "SUBSCRIBER_ID",
        "MESSAGE_ID",
        "ACTION_PERFORMED_AT",
        "_UPDATED_AT",
        "__SYNCED_AT",
    ],
    "dim_shops": ["SHOP_ID", "ENTITY_NAME", "_UPDATED_AT", "__SYNCED_AT"],
    "dim_subscribers": [
        "SUBSCRIBER_ID",
        "POSTSCRIPT_SUBSCRIBER_ID",
        "SHOP_ID",
        "IS_INTERNATIONAL",
        "DO_NOT_SEND_AT",
        "TRANSACTIONAL_ONLY",
        "DO_NOT_SEND",
        "DO_NOT_SEND_REASON",
        "PHONE_NUMBER",
        "CREATED_AT",
        "_UPDATED_AT",
        "__SYNCED_AT",
    ],
}
POSTSCRIPT_KEYS = {
    "fct_attribution": "ATTRIBUTION_ID",
    "dim_messages": "MESSAGE_ID",
    "fct_messages": "MESSAGE_ID",
    "dim_platform_action_details": "PLATFORM_ACTION_DETAIL_ID",
    "dim_platform_actions": "PLATFORM_ACTION_ID",
    "dim_shops": "SHOP_ID",
    "dim_subscribers": "SUBSCRIBER_ID",
}
_POSTSCRIPT_VALUES: Row = {
    "ATTRIBUTION_ID": "a-1",
    "MESSAGE_ID": "m-1",
    "ORDER_ID": "o-1",
    "AMOUNT_IN_CENTS": "2599",
    "ACTION_TYPE": "click",
    "COUPON_USED": "true",
    "SHOP_ID": "s-1",
    "SUBSCRIBER_ID": "sub-1",
    "CUSTOMER_ID": "cust-1",
    "MINUTES_FROM_ACTION": "42",
    "ORDER_CREATED_AT": "2026-10-01 10:00:00.000",
    "POSTSCRIPT_MESSAGE_ID": "pm-1",
    "POSTSCRIPT_SUBSCRIBER_ID": "ps-1",
    "DIRECTION": "outbound",
    "MESSAGE_SERVICE": "sms",
    "FAILED_AT": None,
    "FAILED": "false",
    "TEXT": 'Hi; "friend", 20% off today',
    "MEDIA_URL": "https://cdn.example.com/a.png",
    "TYPE": "campaign",
    "TYPE_NAME": "Campaign",
    "CREATED_AT": "2026-10-01T09:00:00Z",
    "PLATFORM_ACTION_DETAIL_ID": "pad-1",
    "ACTION_DATA": '{"url": "https://shop.example.com", "n": 1}',
    "PLATFORM_ACTION_ID": "pa-1",
    "ACTION_PERFORMED_AT": "2026-10-01T09:30:00Z",
    "ENTITY_NAME": "Example, Inc.",
    "IS_INTERNATIONAL": "FALSE",
    "DO_NOT_SEND_AT": None,
    "TRANSACTIONAL_ONLY": "0",
    "DO_NOT_SEND": "false",
    "DO_NOT_SEND_REASON": None,
    "PHONE_NUMBER": "+15551230001",
    "_UPDATED_AT": "2026-10-01T12:00:00Z",
    "__SYNCED_AT": "2026-10-01T13:00:00Z",
}


def postscript_row(table: str, **kw: str | None) -> Row:
    row = {h: _POSTSCRIPT_VALUES[h] for h in POSTSCRIPT_HEADERS[table]}
    row.update(kw)
    return row


# -- ASAPP (003) ------------------------------------------------------------------------------

ASAPP_HEADERS: dict[str, list[str]] = {
    "call_metadata": [
        "customer_id",
        "conversation_id",
        "call_start",
        "call_end",
        "call_assigned_to_agent",
        "customer_type",
        "survey_offered",
        "survey_taken",
        "survey_answer",
        "toll_free_number",
        "ivr_intent",
        "ivr_resolved",
        "ivr_abandoned",
        "agent_queue_assigned",
        "time_in_queue",
        "queue_abandoned",
        "call_handle_time",
        "call_wrap_time",
        "transfer",
        "disposition_category",
        "disposition_notes",
        "transaction_completed",
        "caller_account_value",
    ],
    "transcripts": [
        "conversation_externalId",
        "sender_externalId",
        "sender_role",
        "text",
        "timestamp",
    ],
    "transactions": [
        "transaction_id",
        "transaction_time",
        "transaction_value_one_time",
        "transaction_value_recurring",
        "customer_category",
        "customer_subcategory",
        "external_customer_id",
        "issue_id",
        "external_session_id",
        "product_category",
        "product_subcategory",
        "product_name",
        "product_id",
        "product_quantity",
        "product_value_one_time",
        "product_value_recurring",
    ],
}
# the example values of the document's tables
_ASAPP_VALUES: Row = {
    "customer_id": "347bdddb-d3a1-45fc-bbcd-dbd3a175fc1c",
    "conversation_id": "21352352",
    "call_start": "2020-01-03T20:02:13Z",
    "call_end": "2020-01-03T20:12:13Z",
    "call_assigned_to_agent": "2020-01-03T20:04:13Z",
    "customer_type": "Wireless Premier",
    "survey_offered": "true",
    "survey_taken": "false",
    "survey_answer": "Survey answer",
    "toll_free_number": "888-929-1467",
    "ivr_intent": "Power Outage",
    "ivr_resolved": "false",
    "ivr_abandoned": "false",
    "agent_queue_assigned": "Wireless Sales",
    "time_in_queue": "600",
    "queue_abandoned": "false",
    "call_handle_time": "650",
    "call_wrap_time": "30",
    "transfer": "NULL",
    "disposition_category": "Change plan",
    "disposition_notes": "Notes from agent, regarding the disposition of the call.",
    "transaction_completed": "Upgrade Completed, Payment Processed",
    "caller_account_value": "129.45",
    "conversation_externalId": "3245556677",
    "sender_externalId": "6433421",
    "sender_role": "agent",
    "text": "Happy to help, one moment please",
    "timestamp": "2022-03-16T18:42:24.488424Z",
    "transaction_id": "1d71dce2-a50c-11ea-bb37-0242ac130002",
    "transaction_time": "2007-04-05T14:30:05.123Z",
    "transaction_value_one_time": "65.25",
    "transaction_value_recurring": "7.95",
    "customer_category": "US",
    "customer_subcategory": "wireless",
    "external_customer_id": "34762720001",
    "issue_id": "1E10412200CC60EEABBF32",
    "external_session_id": "1a09ff6d-3d07-45dc-8fa9-4936bfc4e3e5",
    "product_category": "Wireless Internet",
    "product_subcategory": "Broadband",
    "product_name": "Broadband Gold Package",
    "product_id": "WI-BBGP",
    "product_quantity": "1",
    "product_value_one_time": "60.00",
    "product_value_recurring": "55.00",
}


def asapp_row(table: str, **kw: str | None) -> Row:
    row = {h: _ASAPP_VALUES[h] for h in ASAPP_HEADERS[table]}
    row.update(kw)
    return row


def asapp_key(table: str, row: Row) -> str:
    parts = {
        "call_metadata": ("customer_id", "call_start"),
        "transcripts": ("conversation_externalId", "sender_externalId", "timestamp"),
        "transactions": ("transaction_id", "product_id", "product_name"),
    }[table]
    return md5_key(*(None if row.get(p) in (None, "NULL") else row[p] for p in parts))


# -- Accengage (002) --------------------------------------------------------------------------

ACCENGAGE_FILES = {
    "message_statistics": "exportMessagesStatistics",
    "device_reactions": "exportDevicesReactions",
    "devices": "exportDevices",
}
ACCENGAGE_HEADERS: dict[str, list[str]] = {
    "message_statistics": [
        "message_id",
        "message_name",
        "message_type",
        "campaign_id",
        "campaign_name",
        "send_date",
        "number_of_targets",
        "number_of_bounces",
        "number_of_messages_sent",
        "number_of_reactions",
    ],
    "device_reactions": [
        "member_id",
        "device_id",
        "message_id",
        "message_name",
        "campaign_id",
        "campaign_name",
        "optin",
        "bounce",
        "reaction",
        "sending_date",
        "reaction_date",
    ],
    "devices": [
        "device_id",
        "IDFA",
        "token",
        "number_of_visits",
        "install_date",
        "last_opened",
        "device_model",
        "os_version",
        "language",
        "bundle_version",
        "latitude",
        "longitude",
        "altitude",
        "geolocation_date",
        "sdk_version",
        "feedback",
        "timezone",
        "system_push_opt-in",
        "enabled_push",
        "enabled_inapps",
        "country_code",
        "member_id",
    ],
}
_ACCENGAGE_VALUES: Row = {
    "message_id": "3156",
    "message_name": "Christmas promotion message",
    "message_type": "push notification",
    "campaign_id": "234",
    "campaign_name": "Christmas; promotion campaign",
    "send_date": "2014-11-13 18:30:00",
    "number_of_targets": "54000",
    "number_of_bounces": "4000",
    "number_of_messages_sent": "50000",
    "number_of_reactions": "25000",
    "member_id": "1425",
    "device_id": "0291725A-BB67-4EB9-8914-EE14B283EC0C",
    "optin": "1",
    "bounce": "0",
    "reaction": "1",
    "sending_date": "2016-12-11 08:15:43",
    "reaction_date": "2016-12-11 09:02:01",
    "IDFA": "d271ba55c6c1407492744a93ccbdcad",
    "token": "ADADD6444709E6F5B5F65F698B95EE39B16D62E1E3B6F472510C1B3523E2AB0F",
    "number_of_visits": "34",
    "install_date": "2014-11-13 18:30:00",
    "last_opened": "2014-11-13 18:30:00",
    "device_model": "iPhone4,1",
    "os_version": "8.1",
    "language": "fr",
    "bundle_version": "1.2",
    "latitude": "48,869",
    "longitude": "14,298",
    "altitude": "2587",
    "geolocation_date": "2014-11-13 18:30:00",
    "sdk_version": "4.1.2",
    "feedback": "1",
    "timezone": "Europe/Paris",
    "system_push_opt-in": "1",
    "enabled_push": "1",
    "enabled_inapps": "0",
    "country_code": "FR",
}


def accengage_row(table: str, **kw: str | None) -> Row:
    row = {h: _ACCENGAGE_VALUES[h] for h in ACCENGAGE_HEADERS[table]}
    row.update(kw)
    return row


def accengage_name(table: str, app: str, ymd: str) -> str:
    return f"{ACCENGAGE_FILES[table]}_{app}_{ymd}.csv"


# -- files ------------------------------------------------------------------------------------


def md5_key(*parts: str | None) -> str:
    return hashlib.md5(":".join(p or "" for p in parts).encode("utf-8")).hexdigest()


def write_rows(
    path: Path,
    header: list[str],
    rows: list[Row],
    *,
    delimiter: str = ",",
    bom: bool = False,
    quote_all: bool = False,
    compress: bool = False,
) -> Path:
    """A CSV file as the vendor writes it (``compress``: gzipped, ``path`` should end .gz)."""
    encoding = "utf-8-sig" if bom else "utf-8"
    opener = (
        (lambda: gzip.open(path, "wt", encoding=encoding, newline=""))
        if compress
        else (lambda: path.open("w", encoding=encoding, newline=""))
    )
    with opener() as fh:
        writer = csv.writer(
            fh,
            delimiter=delimiter,
            lineterminator="\n",
            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        )
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if row.get(h) is None else row[h] for h in header])
    return path
