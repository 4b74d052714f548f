"""Sample files for Postscript, ASAPP and Accengage, written as each document describes them.

Small (hundreds of rows a day) and deliberately awkward: quoted text with the delimiter, quotes
and newlines inside, ``NULL`` literals (ASAPP), semicolons and decimal commas (Accengage), a
per-app client-id header and custom columns (Accengage), files older than a day gzipped (as
Accengage does after 24 hours), ids that reappear on later days with a later ``_UPDATED_AT``
(Postscript upserts). Generated with the csv and gzip modules (a demo helper, not a load path).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from platform_assets.core.specs import APP_FIELD, Column, TableSpec
from platform_assets.defs import accengage, asapp, postscript
from platform_assets.demo import people

DEMO_APPS = {"ios": "member_id", "android": "client_ref"}
"""Demo Accengage apps and the header each uses for the client id."""

_TEXTS = (
    "Flash sale, today only: 20% off",
    'Reply "STOP" to opt out',
    "Thanks for joining; here is 10% off\nyour first order",
    "Free shipping ends at midnight",
)


def _write(path: Path, header: list[str], rows: Iterator[list[str]], delimiter: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gz = path.suffix == ".gz"
    with (
        gzip.open(path, "wt", encoding="utf-8", newline="")
        if gz
        else path.open("w", encoding="utf-8", newline="")
    ) as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _stamp(day: dt.date, rnd: random.Random, fmt: str = "%Y-%m-%dT%H:%M:%S.%fZ") -> str:
    moment = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=rnd.randrange(86_000))
    return moment.strftime(fmt)


def _postscript_value(
    name: str, kind: str, day: dt.date, rnd: random.Random, person: int, regular: int | None
) -> str | None:
    if name == "ACTION_DATA":
        return json.dumps({"url": "https://shop.example.com/p?a=1,b=2", "label": 'the "best"'})
    if name in ("TEXT", "ENTITY_NAME", "DO_NOT_SEND_REASON", "TYPE_NAME"):
        return rnd.choice(_TEXTS)
    if kind == "BOOLEAN":
        return rnd.choice(["true", "false", "TRUE", "FALSE"])
    if kind == "BIGINT":
        return str(rnd.randrange(100, 50_000))
    if kind == "TIMESTAMP":
        return None if name in ("FAILED_AT", "DO_NOT_SEND_AT") else _stamp(day, rnd)
    if name == "PHONE_NUMBER":
        return people.national_phone(person)
    if name == "SUBSCRIBER_ID":
        return people.subscriber_id(person)
    if name == "DIRECTION":
        return rnd.choice(["outbound", "outbound", "inbound"])
    if name.endswith("_ID"):
        # a regular's rows have ids of their own, so no random row upserts over them; a day's
        # messages and orders are new ones, a few dimension rows come back with updates
        ids = 400 if name in ("SHOP_ID", "PLATFORM_ACTION_DETAIL_ID") else 10**9
        number = rnd.randrange(1, ids) if regular is None else f"r{regular}"
        return f"{name[:3].lower()}-{number}"
    return rnd.choice(["sms", "mms", "click", "outbound", "campaign"])


_POSTSCRIPT_SHARE = {"fct_attribution": 20, "dim_platform_actions": 4, "dim_shops": 50}
"""Tables with fewer rows than the day's messages: one order per 20 messages, one action per 4,
a few shops."""


def _postscript_rows(spec: TableSpec, day: dt.date, n: int, rnd: random.Random) -> Iterator[list]:
    n = max(n // _POSTSCRIPT_SHARE.get(spec.table, 1), len(people.REGULARS) + 4)
    for i in range(n):
        regular = i if i < len(people.REGULARS) else None
        person = people.REGULARS[i] if regular is not None else rnd.choice(people.POSTSCRIPT)
        yield [
            _postscript_value(c.name, c.type, day, rnd, person, regular) for c in spec.columns
        ]  # header = the documented columns, in order


_ASAPP_FIXED: dict[str, Callable[[dt.date, random.Random], str | None]] = {
    "sender_role": lambda d, r: r.choice(["agent", "customer", "bot"]),
    "toll_free_number": lambda d, r: "888-929-1467",
    "transfer": lambda d, r: r.choice(["NULL", "Sales Group"]),
    "caller_account_value": lambda d, r: f"{r.randrange(1, 99999) / 100:.2f}",
    "issue_id": lambda d, r: r.choice(["NULL", f"1E1{r.randrange(10**9):09d}"]),
}


def _asapp_rows(spec: TableSpec, day: dt.date, n: int, rnd: random.Random) -> Iterator[list]:
    # the day's callers and call starts, the same for every feed: every fourth transaction is
    # the caller's purchase an hour after the call
    calls = random.Random(day.toordinal() * 7)
    callers = [
        (
            people.REGULARS[i] if i < len(people.REGULARS) else calls.choice(people.ASAPP),
            dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=calls.randrange(80_000)),
        )
        for i in range(n)
    ]
    for i in range(n):
        person, start = callers[i]
        if spec.table == "transactions":
            if i % 4 and i >= len(people.REGULARS):  # a quarter of the callers buy after
                person = rnd.choice(people.ASAPP)
            else:
                start += dt.timedelta(hours=1)
        row: dict[str, str | None] = {}
        for col in spec.loaded_columns:
            name = col.name
            if name in ("customer_id", "external_customer_id"):
                row[name] = people.asapp_customer_id(person)
            elif name in _ASAPP_FIXED:
                row[name] = _ASAPP_FIXED[name](day, rnd)
            elif name in ("call_start", "transaction_time", "timestamp"):
                row[name] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            elif name == "call_end":
                row[name] = (start + dt.timedelta(seconds=rnd.randrange(60, 3600))).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
            elif name == "call_assigned_to_agent":
                row[name] = (start + dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
            elif col.type == "BOOLEAN":
                row[name] = rnd.choice(["true", "false", "NULL"])
            elif col.type == "BIGINT":
                row[name] = str(rnd.randrange(1, 900))
            elif col.type == "DOUBLE":
                row[name] = f"{rnd.randrange(100, 20000) / 100:.2f}"
            elif name in ("text", "disposition_notes", "survey_answer"):
                row[name] = rnd.choice(_TEXTS)
            else:
                row[name] = f"{name[:4]}-{day:%m%d}-{i}"
        yield [row[c] for c in spec.csv_columns]


def _accengage_value(
    col: Column, day: dt.date, i: int, rnd: random.Random, person: int, regular: bool
) -> str | None:
    name = col.csv_name
    if name == "device_id":
        return people.device_id(person)
    if name == "member_id":
        return people.client_id(person)
    if col.type == "BOOLEAN":
        if regular:  # a regular's device is opted in and reacted
            return "0" if name == "bounce" else "1"
        return rnd.choice(["0", "1"])
    if col.type == "BIGINT":
        return str(rnd.randrange(0, 60_000))
    if col.type == "TIMESTAMP":
        return _stamp(day, rnd, "%Y-%m-%d %H:%M:%S")
    if col.decimal_comma:
        return f"{rnd.uniform(-80, 80):.3f}".replace(".", ",")
    if name == "message_id":
        return str(3000 + i)
    return rnd.choice(["Christmas; promotion", 'Hello "user" !', "fr", "iPhone4,1", "4.1.2"])


def _message_counts(rnd: random.Random) -> dict[str, str]:
    """One message's day as a push platform reports it: most targets get the push, a few
    percent bounce, a few percent of the delivered react (sends >= bounces + deliveries,
    reactions <= deliveries)."""
    targets = rnd.randrange(200, 5_000)
    sent = targets - rnd.randrange(0, targets // 50 + 1)  # a few had no valid token
    bounces = round(sent * rnd.uniform(0.01, 0.04))
    reactions = round((sent - bounces) * rnd.uniform(0.01, 0.08))
    return {
        "number_of_targets": str(targets),
        "number_of_messages_sent": str(sent),
        "number_of_bounces": str(bounces),
        "number_of_reactions": str(reactions),
    }


def _accengage_rows(spec: TableSpec, day: dt.date, n: int, rnd: random.Random) -> Iterator[list]:
    for i in range(n):
        cols = [c for c in spec.loaded_columns if c.csv_name != APP_FIELD]
        regular = i < len(people.REGULARS)
        person = people.REGULARS[i] if regular else rnd.choice(people.ACCENGAGE)
        values = [_accengage_value(c, day, i, rnd, person, regular) for c in cols]
        if spec.table == "message_statistics":
            counts = _message_counts(rnd)
            values = [counts.get(c.csv_name, v) for c, v in zip(cols, values, strict=True)]
        yield [*values, rnd.choice(["gold", "silver"])]


def write_vendor_day(root: Path, day: dt.date, today: dt.date, rows: int = 300) -> list[Path]:
    """One day of every Postscript, ASAPP and Accengage file under ``root/<vendor>/``."""
    rnd = random.Random(day.toordinal())
    written = []
    for spec in postscript.TABLES:
        header = [c.name for c in spec.loaded_columns]
        written.append(
            _write(
                root / "postscript" / spec.file_name(day),
                header,
                _postscript_rows(spec, day, rows, rnd),
                ",",
            )
        )
    for spec in asapp.TABLES:
        written.append(
            _write(
                root / "asapp" / "out" / spec.file_name(day),
                list(spec.csv_columns),
                _asapp_rows(spec, day, rows, rnd),
                ",",
            )
        )
    for app, member_header in DEMO_APPS.items():
        for spec in accengage.TABLES:
            cols = [c for c in spec.loaded_columns if c.csv_name != APP_FIELD]
            header = [member_header if c.name == "member_id" else c.csv_name for c in cols]
            name = spec.file_name(day, app) + (".gz" if (today - day).days > 1 else "")
            written.append(
                _write(
                    root / "accengage" / name,
                    [*header, "loyalty_tier"],
                    _accengage_rows(spec, day, rows, rnd),
                    ";",
                )
            )
    return written
