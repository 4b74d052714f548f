"""The demo brand's own contact-center records, the rows of its ASAPP call-metadata and
transcript feeds (the platform holds no telephony or chat system of its own; a brand names its
tables in ``ASAPP_CALL_METADATA_RELATION`` / ``ASAPP_TRANSCRIPTS_RELATION``): ``brand.calls``
and ``brand.chat_messages`` in the warehouse, for the demo's ASAPP people (their customer id is
ASAPP's hashed client id), a few per day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from platform_assets.demo import people

CALLS_PER_DAY = 12
RELATIONS = {
    "ASAPP_CALL_METADATA_RELATION": "brand.calls",
    "ASAPP_TRANSCRIPTS_RELATION": "brand.chat_messages",
}


def write_contact_center(warehouse: str, dates: list[dt.date]) -> None:
    """``brand.calls`` (document 003's call-metadata fields) and ``brand.chat_messages`` (its
    transcript fields), with ``delivery_date`` = the call's UTC day; replaced."""
    calls, messages = [], []
    for d, day in enumerate(dates):
        for n in range(CALLS_PER_DAY):
            person = people.ASAPP[(d * CALLS_PER_DAY + n) % len(people.ASAPP)]
            start = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(minutes=37 * n)
            end = start + dt.timedelta(minutes=4 + n % 9)
            conversation = f"conv-{day:%Y%m%d}-{n:03d}"
            calls.append(
                (day, people.asapp_customer_id(person), conversation, start, end,
                 start + dt.timedelta(minutes=1), "Wireless Premier", n % 2 == 0, n % 4 == 0,
                 "5" if n % 4 == 0 else None, "800-555-0100", "billing", n % 3 == 0,
                 False, "Care", 30 + n, False, 240 + 10 * n, 30, None, "Billing",
                 None, "Payment Processed" if n % 2 else None, 100 + n)
            )  # fmt: skip
            for i, role in enumerate(("customer", "agent", "bot")):
                messages.append(
                    (day, conversation, f"{role}-{person}", role,
                     f"{role} message {i} of {conversation}",
                     start + dt.timedelta(seconds=20 * i, microseconds=1000 * i))
                )  # fmt: skip
    Path(warehouse).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(warehouse) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS brand")
        con.execute(
            "CREATE OR REPLACE TABLE brand.calls (delivery_date DATE, customer_id VARCHAR, "
            "conversation_id VARCHAR, call_start TIMESTAMP, call_end TIMESTAMP, "
            "call_assigned_to_agent TIMESTAMP, customer_type VARCHAR, survey_offered BOOLEAN, "
            "survey_taken BOOLEAN, survey_answer VARCHAR, toll_free_number VARCHAR, "
            "ivr_intent VARCHAR, ivr_resolved BOOLEAN, ivr_abandoned BOOLEAN, "
            "agent_queue_assigned VARCHAR, time_in_queue BIGINT, queue_abandoned BOOLEAN, "
            "call_handle_time BIGINT, call_wrap_time BIGINT, transfer VARCHAR, "
            "disposition_category VARCHAR, disposition_notes VARCHAR, "
            "transaction_completed VARCHAR, caller_account_value DECIMAL(18,4))"
        )
        con.executemany(f"INSERT INTO brand.calls VALUES ({', '.join(['?'] * 24)})", calls)
        con.execute(
            "CREATE OR REPLACE TABLE brand.chat_messages (delivery_date DATE, "
            "conversation_externalId VARCHAR, sender_externalId VARCHAR, sender_role VARCHAR, "
            'text VARCHAR, "timestamp" TIMESTAMP)'
        )
        con.executemany("INSERT INTO brand.chat_messages VALUES (?, ?, ?, ?, ?, ?)", messages)
