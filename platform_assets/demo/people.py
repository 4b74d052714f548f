"""The demo's people: one identity each, seen by several vendors with the identifiers the
documents let the models link (phone, email, the brand's client id, ASAPP's hashed client id).

Person ``p`` has phone ``+1201200xxxx`` (``2012000000 + p``), email ``user<p>@example.com`` and
client id ``c<p>``; ASAPP knows them by ``md5(c<p>)`` (the demo sets
``ASAPP_CUSTOMER_ID_HASH=md5``). Vendors draw from overlapping ranges, so most people appear with
several vendors and some with one only:

- Attentive: people ``0 .. PEOPLE-1`` (phone, email, client id);
- Postscript subscribers: ``PEOPLE/2 .. PEOPLE+PEOPLE/4`` (phones written without ``+1``);
- ASAPP calls and transactions: ``0 .. PEOPLE/2``, the regulars, and ``PEOPLE+PEOPLE/4 ..
  +PEOPLE/8`` (only ASAPP);
- Accengage devices: ``PEOPLE/4 .. PEOPLE`` (member id = client id).

Who else appears on a day is drawn at random from the day's seed, so a small demo could, on an
unlucky day, have nobody at three vendors. The **regulars** make the overlap a property of the
data rather than luck: every vendor's files of every day begin with one event of each regular
(an Attentive notification, a Postscript subscriber and message, an ASAPP call, an Accengage
device that reacted), so each regular is one customer with events at all four vendors, whatever
the start day.
"""

from __future__ import annotations

import hashlib

PEOPLE = 400
REGULARS = range(PEOPLE // 2, PEOPLE // 2 + 8)
"""Seen by every vendor every day (inside each vendor's range below)."""
ATTENTIVE = range(0, PEOPLE)
POSTSCRIPT = range(PEOPLE // 2, PEOPLE + PEOPLE // 4)
ASAPP = [
    *range(0, PEOPLE // 2),
    *REGULARS,
    *range(PEOPLE + PEOPLE // 4, PEOPLE + PEOPLE // 4 + PEOPLE // 8),
]
ACCENGAGE = range(PEOPLE // 4, PEOPLE)


def phone(p: int) -> str:
    return f"+1{2012000000 + p}"


def national_phone(p: int) -> str:
    """As Postscript's demo writes it: ``(201) 200-xxxx``, no country code."""
    digits = str(2012000000 + p)
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def email(p: int) -> str:
    return f"user{p}@example.com"


def client_id(p: int) -> str:
    return f"c{p}"


def asapp_customer_id(p: int) -> str:
    return hashlib.md5(client_id(p).encode()).hexdigest()


def subscriber_id(p: int) -> str:
    return f"sub-{p}"


def device_id(p: int) -> str:
    return f"dev-{p}"
