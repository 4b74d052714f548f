"""What each loyalty asset sends, intent by intent, through the journal (no Dagster here: the
assets in ``assets.py`` open the session and report; the randomized kill trials drive these same
functions): subscriptions reconciled with the members, one message per loyalty action.

Each intent has one idempotency key, listed once however often the input repeats it, and goes
through :func:`~platform_assets.outbound.loyalty.session.made`: claimed, called, recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import partial

from platform_assets.core.masking import shown
from platform_assets.outbound.loyalty.journal import INELIGIBLE, Call, Journal
from platform_assets.outbound.loyalty.resources import AttentiveApi, text_eligible
from platform_assets.outbound.loyalty.session import e164, made, stop_on_auth, subject_hash
from platform_assets.outbound.preview import SAMPLE_ROWS, PreviewItem

PREVIEW_TEXT_CHARACTERS = 60


def would(
    journal: Journal,
    call: Call,
    counts: Counter,
    preview: list[PreviewItem],
    sample: dict[str, str | None],
) -> None:
    """A preview's stand-in for :func:`made`: the call that would be made, kept; none made."""
    busy = journal.state(call.key)
    if busy is not None:
        counts[busy] += 1
        return
    counts[f"would_{call.kind}"] += 1
    preview.append(
        PreviewItem(call.kind, call.key, 1, None, [sample] if len(preview) < SAMPLE_ROWS else [])
    )


def reconcile_subscriptions(
    journal: Journal,
    api: AttentiveApi,
    members: Sequence[tuple],
    region: str,
    ttl_hours: int,
    counts: Counter,
    preview: list[PreviewItem] | None = None,
) -> None:
    """Each member (member_id, phone, email, sms_opt_in) subscribed when opted in and eligible,
    unsubscribed when opted out; one call per change of the wanted state. With ``preview``:
    the calls that would be made are listed there and none is made (an eligibility question
    not answered in the journal's period is counted as ``would_ask_eligibility``)."""
    kinds = ("subscribe", "unsubscribe")
    done = journal.succeeded_per_member(kinds)
    seen: set[str] = set()
    for member, phone, email, opted_in in members:
        if member in seen:  # listed twice (with other values): the first row counts
            counts["duplicate_intents"] += 1
            continue
        seen.add(member)
        number = e164(phone, region)
        if number is None:
            counts["invalid_phone"] += 1
            continue
        subject = subject_hash(number, email)
        want = "subscribe" if opted_in else "unsubscribe"
        kind, last_subject, seq = done.get(member, ("", "", 0))
        if (kind, last_subject) == (want, subject):
            counts["in_sync"] += 1
            continue
        call = Call(f"{want}:{member}:{seq}", want, member, None, subject)
        busy = journal.state(call.key)
        if busy is not None:
            counts[busy] += 1
            continue
        if preview is not None:
            known = journal.eligibility(member, subject, ttl_hours) if opted_in else None
            if known == INELIGIBLE:
                counts[INELIGIBLE] += 1
                continue
            counts["would_ask_eligibility"] += opted_in and known is None
            would(journal, call, counts, preview, {"phone": shown("phone", number)})
            continue
        if opted_in and not eligible(api, journal, call, number, email, ttl_hours, counts):
            continue
        send = api.subscribe if opted_in else api.unsubscribe
        outcome = made(journal, call, partial(send, number, email), counts)
        if outcome is not None:
            stop_on_auth(outcome, "Attentive", "ATTENTIVE_API_TOKEN")


def send_messages(
    journal: Journal,
    api: AttentiveApi,
    actions: Sequence[tuple],
    region: str,
    counts: Counter,
    preview: list[PreviewItem] | None = None,
) -> None:
    """Each action (action_id, member_id, text, phone) messaged once. With ``preview``: the
    messages that would be sent are listed there and none is sent."""
    seen: set[str] = set()
    for action, member, text, phone in actions:
        call = Call(f"message:{action}", "message", member, action)
        if call.key in seen:  # one intent per action, however often it is listed
            counts["duplicate_intents"] += 1
            continue
        seen.add(call.key)
        number = e164(phone, region)
        if number is None:
            counts["invalid_phone"] += 1
            continue
        if preview is not None:
            sample = {"phone": shown("phone", number), "text": text[:PREVIEW_TEXT_CHARACTERS]}
            would(journal, call, counts, preview, sample)
            continue
        outcome = made(journal, call, partial(api.message, number, text), counts)
        if outcome is not None:
            stop_on_auth(outcome, "Attentive", "ATTENTIVE_MESSAGES_API_TOKEN")


def eligible(
    api: AttentiveApi,
    journal: Journal,
    call: Call,
    number: str,
    email: str | None,
    ttl_hours: int,
    counts: Counter,
) -> bool:
    """Whether the member's TEXT subscription is open: the journal's answer of the last
    ``ttl_hours`` (LOYALTY_ELIGIBILITY_TTL_HOURS), else Attentive's (GET /v1/subscriptions,
    journaled, a 401/403 recorded before the run stops)."""
    assert call.member_id is not None and call.subject_hash is not None
    known = journal.eligibility(call.member_id, call.subject_hash, ttl_hours)
    if known is None:
        seq = call.key.rsplit(":", 1)[-1]
        question = Call(
            f"eligibility:{call.member_id}:{seq}", "eligibility", call.member_id, None,
            call.subject_hash,
        )  # fmt: skip
        attempt = journal.begin(question)
        answer = api.eligibility(number, email)
        is_open = answer.ok and text_eligible(answer.body)
        journal.finish_read(
            question, attempt, answer, INELIGIBLE if answer.ok and not is_open else None
        )
        stop_on_auth(answer, "Attentive", "ATTENTIVE_API_TOKEN")
        if not answer.ok:
            counts[f"eligibility_{answer.outcome}"] += 1
            return False
        known = "succeeded" if is_open else INELIGIBLE
    if known == INELIGIBLE:
        counts[INELIGIBLE] += 1
        return False
    return True
