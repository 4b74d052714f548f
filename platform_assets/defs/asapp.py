"""ASAPP's three feeds (call metadata, transcripts, transactions), as ASAPP's SFTP guide documents
them.

Source: ASAPP's SFTP data-exchange guide (no public page: ASAPP sends it to its customers).
Field names are the documented ones. ``NULL`` (and an empty field) means missing. Rules, from
the document's REQUIRED and FORMAT columns: required fields present and not empty; timestamps
ISO 8601 in UTC (``Z`` or a zero offset); booleans ``true``/``false``; integers and decimals
where stated; ``sender_role`` one of agent, customer, bot; ``call_end`` not before
``call_start``; a transaction names ``external_customer_id`` or ``issue_id`` (the document: "one
of these will be required").

Files: ``asapp_<feed>_YYYYMMDD.csv`` in ``ASAPP_SFTP_REMOTE_DIR`` (ASAPP's ``out`` folder); the
pattern is a per-table setting (``ASAPP_<TABLE>_FILE_PATTERN``). ASAPP's server takes key-based
logins only (user ``sftp<companymarker>``): set ``ASAPP_SFTP_PRIVATE_KEY_PATH``.

The document names no row key. Each feed's key (``__sync_key``, an MD5 over the raw text of the
fields below, ``:``-separated, a missing field counting as '') is chosen so a re-delivered file
changes nothing, and UPSERT lets the newer file win:

- ``call_metadata``: ``customer_id`` + ``call_start``. One caller cannot start two calls in the
  same instant; every other field (end, queue, disposition, survey) is an outcome that a later
  export may fill in or correct, so it must not be part of the identity.
- ``transcripts``: ``conversation_externalId`` + ``sender_externalId`` + ``timestamp``. A message
  is one sender's utterance in one conversation at one (microsecond) instant; the text is the
  content, not the identity (a corrected text updates the message instead of duplicating it).
- ``transactions``: ``transaction_id`` + ``product_id`` + ``product_name``. A transaction has one
  row per product, so the transaction id alone would collapse its products; the product is
  identified by its id, or by its name when the optional id is missing.
"""

from __future__ import annotations

from platform_assets.core import checks
from platform_assets.core.checks import RowRule
from platform_assets.core.deliveries import Delivery, Feed, FileStyle
from platform_assets.core.kinds import INTEGER, MONEY, NUMBER, TRUE_FALSE, UTC_TIMESTAMP
from platform_assets.core.sources import VendorSource
from platform_assets.core.specs import (
    Column,
    CsvDialect,
    KeyPart,
    Md5Key,
    TableSpec,
    VendorDocument,
)

DOCUMENT = VendorDocument(
    "ASAPP: SFTP data exchange (call metadata, transcripts and transactions feeds)"
)
NAME = "asapp"
DIALECT = CsvDialect(null_values=("", "NULL"))


def _table(
    table: str,
    description: str,
    columns: tuple[Column, ...],
    key_parts: tuple[str, ...],
    row_rules: tuple[RowRule, ...] = (),
) -> TableSpec:
    """An ASAPP feed: its documented ``columns``, then ``__sync_key`` over ``key_parts``."""
    key = Md5Key(
        "__sync_key",
        tuple(KeyPart(p) for p in key_parts),
        description="UPSERT key: MD5 of " + " + ':' + ".join(key_parts) + ".",
    )
    return TableSpec(
        source=NAME,
        schema="asapp",
        table=table,
        description=(
            f"{description} Loaded daily from asapp_{table}_YYYYMMDD.csv; UPSERT on __sync_key "
            f"= MD5({' : '.join(key_parts)})."
        ),
        file_pattern=f"asapp_{table}_{{YYYYMMDD}}.csv",
        columns=(*columns, key),
        key="__sync_key",
        row_rules=row_rules,
        dialect=DIALECT,
        document=DOCUMENT,
    )


CALL_METADATA = _table(
    "call_metadata",
    "ASAPP call-center call metadata: one row per call with its customer, timing (start, "
    "agent assignment, end, queue and handle times), IVR outcome, survey and disposition.",
    (
        Column("customer_id", required=True),
        Column("conversation_id"),
        Column("call_start", UTC_TIMESTAMP, required=True),
        Column("call_end", UTC_TIMESTAMP, required=True),
        Column("call_assigned_to_agent", UTC_TIMESTAMP),
        Column("customer_type"),
        Column("survey_offered", TRUE_FALSE),
        Column("survey_taken", TRUE_FALSE),
        Column("survey_answer"),
        Column("toll_free_number"),
        Column("ivr_intent"),
        Column("ivr_resolved", TRUE_FALSE),
        Column("ivr_abandoned", TRUE_FALSE),
        Column("agent_queue_assigned"),
        Column("time_in_queue", INTEGER),
        Column("queue_abandoned", TRUE_FALSE),
        Column("call_handle_time", INTEGER),
        Column("call_wrap_time", INTEGER),
        Column("transfer"),
        Column("disposition_category"),
        Column("disposition_notes"),
        Column("transaction_completed"),
        Column("caller_account_value", MONEY),
    ),
    key_parts=("customer_id", "call_start"),
    row_rules=(checks.not_before("call_end", "call_start"),),
)
TRANSCRIPTS = _table(
    "transcripts",
    "ASAPP conversation transcripts: one row per message of a conversation, with its sender, "
    "the sender's role (agent, customer or bot), the text and when it was sent.",
    (
        Column("conversation_externalId", required=True),
        Column("sender_externalId", required=True),
        Column("sender_role", required=True, rules=(checks.one_of("agent", "customer", "bot"),)),
        Column("text", required=True),
        Column("timestamp", UTC_TIMESTAMP, required=True),
    ),
    key_parts=("conversation_externalId", "sender_externalId", "timestamp"),
)
TRANSACTIONS = _table(
    "transactions",
    "ASAPP transactions: one row per product of a customer transaction (purchase, upgrade), "
    "with one-time and recurring values, the customer or ASAPP issue it is attributed to.",
    (
        Column("transaction_id", required=True),
        Column("transaction_time", UTC_TIMESTAMP, required=True),
        Column("transaction_value_one_time", NUMBER),
        Column("transaction_value_recurring", NUMBER),
        Column("customer_category"),
        Column("customer_subcategory"),
        Column("external_customer_id"),
        Column("issue_id"),
        Column("external_session_id", required=True),
        Column("product_category"),
        Column("product_subcategory"),
        Column("product_name"),
        Column("product_id"),
        Column("product_quantity", INTEGER, required=True),
        Column("product_value_one_time", NUMBER),
        Column("product_value_recurring", NUMBER),
    ),
    key_parts=("transaction_id", "product_id", "product_name"),
    row_rules=(checks.one_of_present("external_customer_id", "issue_id"),),
)

TABLES: tuple[TableSpec, ...] = (CALL_METADATA, TRANSCRIPTS, TRANSACTIONS)

# -- the brand's feeds to ASAPP (its ``in`` folder) ---------------------------------------------
# The same three feeds, written with the documented field names and order, ISO 8601 UTC
# timestamps, true/false and NULL, and checked with the rules above before they are uploaded.
# The document names no upload file names: the feeds go as asapp_<feed>_YYYYMMDD.csv.
FEED_STYLE = FileStyle(delimiter=",", quote_all=False, null_text="NULL", timestamp="iso_utc")


def _feed(table: TableSpec, relation: str | None, what: str) -> Feed:
    return Feed(
        vendor=NAME,
        name=table.table,
        description=f"The brand's {what} sent to ASAPP (its `in` folder), one file per day.",
        file_name=f"asapp_{table.table}_{{YYYYMMDD}}.csv",
        style=FEED_STYLE,
        relation=relation,
        document=DOCUMENT,
        table=table,
    )


DELIVERIES: tuple[Delivery, ...] = (
    # the brand's telephony and chat records: a table the brand names (no default)
    _feed(CALL_METADATA, None, "call-center call metadata"),
    _feed(TRANSCRIPTS, None, "conversation transcripts"),
    # the demo's model: the SMS vendors' attributed orders with the hashed client id
    _feed(TRANSACTIONS, "deliveries.asapp_transactions", "transactions (purchases)"),
)

SOURCE = VendorSource(
    name=NAME,
    tables=TABLES,
    description="ASAPP (contact center): call metadata, transcripts and transactions, daily.",
    document=DOCUMENT,
    timezone="UTC",
    schedule_cron="0 7 * * *",
    documented_folder="out",
    deliveries=DELIVERIES,
    delivery_folder="in",
)
