"""Write vendor CSV files for tests with Python's csv module (independent of the platform)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path

CONVERSION_HEADER = [
    "phone",
    "client_id",
    "amount",
    "timestamp",
    "message_id",
    "message_name",
    "message_text",
    "message_type",
    "message_subtype",
]
NOTIFICATION_HEADER = [
    "type",
    "phone",
    "client_id",
    "email",
    "timestamp",
    "join_source",
    "message_id",
    "message_name",
    "message_text",
    "message_type",
    "message_subtype",
    "message_start",
    "creative_id",
    "creative_name",
    "creative_type",
    "creative_subtype",
]


def write_csv(
    path: Path,
    header: list[str],
    rows: list[dict[str, str | None]],
    *,
    bom: bool = False,
    delimiter: str = ",",
    newline: str = "\r\n",
) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator=newline)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if row.get(h) is None else row[h] for h in header])
    return path


def conversion(
    phone: str | None = "+15551230001", ts: str = "2026-10-01T10:00:00.123Z", **kw: str | None
) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "phone": phone,
        "client_id": "c1",
        "amount": "19.99",
        "timestamp": ts,
        "message_id": "1001",
        "message_name": "Fall sale",
        "message_text": "20% off, today",
        "message_type": "CAMPAIGN",
        "message_subtype": "STANDARD",
    }
    row.update(kw)
    return row


def notification(
    type_: str | None = "CLICK",
    phone: str | None = "+15551230001",
    email: str | None = "a@example.com",
    ts: str = "2026-10-01T10:00:00.123Z",
    **kw: str | None,
) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "type": type_,
        "phone": phone,
        "client_id": "c1",
        "email": email,
        "timestamp": ts,
        "join_source": None,
        "message_id": "1001",
        "message_name": "Fall sale",
        "message_text": 'Hi, "friend"',
        "message_type": "CAMPAIGN",
        "message_subtype": "STANDARD",
        "message_start": "2026-10-01T09:00:00Z",
        "creative_id": "5",
        "creative_name": "Popup",
        "creative_type": "POPUP",
        "creative_subtype": "SMS_ONLY",
    }
    row.update(kw)
    return row


def md5_key(*parts: str | None) -> str:
    """The documented key, independently: MD5 of the ':'-joined parts, missing parts as ''."""
    return hashlib.md5(":".join(p or "" for p in parts).encode("utf-8")).hexdigest()


def conversion_key(row: dict[str, str | None]) -> str:
    return md5_key(row["phone"], (row["timestamp"] or "")[:19])


def notification_key(row: dict[str, str | None]) -> str:
    return md5_key(row["type"], row["phone"], row["email"], (row["timestamp"] or "")[:19])


def ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")
