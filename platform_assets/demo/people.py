"""The demo's people: one identity each, seen by several vendors with the identifiers the
documents let the models link (phone, email, the brand's client id, ASAPP's hashed client id).

Person ``p`` has phone ``+1201200xxxx`` (``2012000000 + p``), email ``user<p>@example.com`` and
client id ``c<p>``; ASAPP knows them by ``md5(c<p>)`` (the demo sets
``ASAPP_CUSTOMER_ID_HASH=md5``). Vendors draw from overlapping ranges, so most people appear with
several vendors and some with one only:

- Attentive: people ``0 .. PEOPLE-1`` (phone, email, client id);
- Postscript subscribers: ``PEOPLE/2 .. PEOPLE+PEOPLE/4`` (phones written without ``+1``);
- ASAPP calls and transactions: ``0 .. PEOPLE/2`` and ``PEOPLE+PEOPLE/4 .. +PEOPLE/8`` (only ASAPP);
- Accengage devices: ``PEOPLE/4 .. PEOPLE`` (member id = client id).
"""

from __future__ import annotations

import hashlib

PEOPLE = 400
ATTENTIVE = range(0, PEOPLE)
POSTSCRIPT = range(PEOPLE // 2, PEOPLE + PEOPLE // 4)
ASAPP = [*range(0, PEOPLE // 2), *range(PEOPLE + PEOPLE // 4, PEOPLE + PEOPLE // 4 + PEOPLE // 8)]
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
