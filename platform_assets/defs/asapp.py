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

import pandera.pandas as pa

from platform_assets.core import checks
from platform_assets.core.deliveries import Delivery, Feed, FileStyle
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

# column kinds: (DuckDB type, rule)
_KINDS: dict[str, tuple[str, pa.Check | None]] = {
    "text": ("VARCHAR", None),
    "ts": ("TIMESTAMP", checks.utc_timestamp()),
    "bool": ("BOOLEAN", checks.boolean("true", "false")),
    "int": ("BIGINT", checks.integer()),
    "decimal": ("DECIMAL(18,4)", checks.decimal(14, 4)),
    "float": ("DOUBLE", checks.number()),
}


def _rule(kind: str) -> list[pa.Check]:
    """The check of a kind of field (none for plain text)."""
    check = _KINDS[kind][1]
    return [check] if check is not None else []


def _table(
    table: str,
    description: str,
    fields: tuple[tuple[str, str, bool], ...],
    key_parts: tuple[str, ...],
    extra_checks: tuple[pa.Check, ...] = (),
    extra_rules: dict[str, tuple[pa.Check, ...]] | None = None,
) -> TableSpec:
    """An ASAPP feed: ``fields`` as (documented name, kind, required), then ``__sync_key``."""
    extra_rules = extra_rules or {}
    rules = {
        name: checks.text(
            *_rule(kind),
            *extra_rules.get(name, ()),
            required=required,
        )
        for name, kind, required in fields
    }
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
        columns=(*(Column(n, _KINDS[k][0]) for n, k, _ in fields), key),
        key="__sync_key",
        row_schema=pa.DataFrameSchema(rules, checks=list(extra_checks), name=f"asapp_{table}_csv"),
        dialect=DIALECT,
        document=DOCUMENT,
    )


CALL_METADATA = _table(
    "call_metadata",
    "ASAPP call-center call metadata: one row per call with its customer, timing (start, "
    "agent assignment, end, queue and handle times), IVR outcome, survey and disposition.",
    (
        ("customer_id", "text", True),
        ("conversation_id", "text", False),
        ("call_start", "ts", True),
        ("call_end", "ts", True),
        ("call_assigned_to_agent", "ts", False),
        ("customer_type", "text", False),
        ("survey_offered", "bool", False),
        ("survey_taken", "bool", False),
        ("survey_answer", "text", False),
        ("toll_free_number", "text", False),
        ("ivr_intent", "text", False),
        ("ivr_resolved", "bool", False),
        ("ivr_abandoned", "bool", False),
        ("agent_queue_assigned", "text", False),
        ("time_in_queue", "int", False),
        ("queue_abandoned", "bool", False),
        ("call_handle_time", "int", False),
        ("call_wrap_time", "int", False),
        ("transfer", "text", False),
        ("disposition_category", "text", False),
        ("disposition_notes", "text", False),
        ("transaction_completed", "text", False),
        ("caller_account_value", "decimal", False),
    ),
    key_parts=("customer_id", "call_start"),
    extra_checks=(checks.not_before("call_end", "call_start"),),
)
TRANSCRIPTS = _table(
    "transcripts",
    "ASAPP conversation transcripts: one row per message of a conversation, with its sender, "
    "the sender's role (agent, customer or bot), the text and when it was sent.",
    (
        ("conversation_externalId", "text", True),
        ("sender_externalId", "text", True),
        ("sender_role", "text", True),
        ("text", "text", True),
        ("timestamp", "ts", True),
    ),
    key_parts=("conversation_externalId", "sender_externalId", "timestamp"),
    extra_rules={"sender_role": (checks.one_of("agent", "customer", "bot"),)},
)
TRANSACTIONS = _table(
    "transactions",
    "ASAPP transactions: one row per product of a customer transaction (purchase, upgrade), "
    "with one-time and recurring values, the customer or ASAPP issue it is attributed to.",
    (
        ("transaction_id", "text", True),
        ("transaction_time", "ts", True),
        ("transaction_value_one_time", "float", False),
        ("transaction_value_recurring", "float", False),
        ("customer_category", "text", False),
        ("customer_subcategory", "text", False),
        ("external_customer_id", "text", False),
        ("issue_id", "text", False),
        ("external_session_id", "text", True),
        ("product_category", "text", False),
        ("product_subcategory", "text", False),
        ("product_name", "text", False),
        ("product_id", "text", False),
        ("product_quantity", "int", True),
        ("product_value_one_time", "float", False),
        ("product_value_recurring", "float", False),
    ),
    key_parts=("transaction_id", "product_id", "product_name"),
    extra_checks=(checks.one_of_present("external_customer_id", "issue_id"),),
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
