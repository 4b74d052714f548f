"""Personal values in what the platform shows. The rule, stated once: a sample value of a
personal column (phones, emails, client, customer, member, subscriber and device ids, external
ids, advertising ids, push tokens, locations) is shown by its shape only (digits as ``9``,
letters as ``x``, punctuation kept) in metadata, logs and error messages, so an engineer still
sees what is wrong with it (``999-9999`` is not E.164); the rejects tables keep the values."""

import re

PERSONAL = re.compile(
    r"phone|e_?mail|(client|customer|member|subscriber|device)_?id|external_?id|idfa|token"
    r"|latitude|longitude|altitude",
    re.IGNORECASE,
)
SHOWN_CHARACTERS = 40


def is_personal(column: str) -> bool:
    return bool(PERSONAL.search(column))


def shown(column: str, value: str | None) -> str | None:
    """``value`` as metadata, logs and messages may show it."""
    if value is None or not is_personal(column):
        return value
    return shape(value)


def shape(value: str) -> str:
    """A personal value by its shape only (``+19999999999``, ``xxx@xxxxxxx.xxx``)."""
    form = re.sub(r"[A-Za-z]", "x", re.sub(r"[0-9]", "9", value[:SHOWN_CHARACTERS]))
    return re.sub(r"[^\x20-\x7e]", "?", form) + ("..." if len(value) > SHOWN_CHARACTERS else "")
