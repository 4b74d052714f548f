"""What every journaled API asset shares: the run config for calls left in doubt, the session
(warehouse attached, journal opened, dead runs' claims settled, the operator's decisions
applied), one journaled call (claimed, made, recorded), the check that reports failed calls and
lists every key in doubt, and the stop on an authentication error."""

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import dagster as dg
import duckdb
import phonenumbers
from dagster_duckdb import DuckDBResource
from pydantic import Field

from platform_assets.core.staging import staging_connection
from platform_assets.core.warehouse import LoaderSettings, attached_warehouse
from platform_assets.core.warehouse_resource import warehouse_of
from platform_assets.core.workdir import new_work_folder
from platform_assets.outbound.loyalty.http import FAILED, IN_DOUBT, SUCCEEDED, Outcome
from platform_assets.outbound.loyalty.journal import CLAIMED, Call, Journal
from platform_assets.outbound.preview import PreviewConfig

CALLS_CHECK = "no_failed_or_doubtful_calls"
AUTH_ERRORS = {401, 403}


class LoyaltyConfig(PreviewConfig):
    """An operator's decision on calls left in doubt (their keys are in the check's metadata),
    or a preview (nothing sent, no decision applied)."""

    confirm_sent: list[str] = Field(
        default_factory=list,
        description="In-doubt (or dead runs' held) call keys that did happen (never re-sent).",
    )
    resend: list[str] = Field(
        default_factory=list,
        description="In-doubt (or dead runs' held) call keys that did not happen (sent again).",
    )


def e164(phone: str | None, region: str) -> str | None:
    """``phone`` in E.164 (``+17707651750``), or None when it is not a valid number."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def subject_hash(phone: str, email: str | None) -> str:
    """Who a subscription call was for, without keeping the phone or email."""
    return hashlib.sha256(f"{phone}|{(email or '').strip().lower()}".encode()).hexdigest()


# -- the journaled session of one asset ------------------------------------------------------


ALIVE = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)
"""A run in these states may still be making the call it claimed."""


@contextmanager
def journaled(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    config: LoyaltyConfig,
    warehouse: DuckDBResource,
    loader: LoaderSettings,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, Journal]]:
    """A private connection and the journal over it (the warehouse attached per transaction),
    with the claims of runs that are over settled as in doubt and the operator's decisions of
    the run config applied."""
    folder = new_work_folder(loader.work_dir, "api")
    try:
        with staging_connection(loader, folder.path) as con:
            journal = Journal(
                con,
                partial(attached_warehouse, con, warehouse_of(warehouse), loader.lock_wait_seconds),
                context.run.run_id,
            )
            alive = {
                r.run_id
                for r in context.instance.get_runs(filters=dg.RunsFilter(statuses=list(ALIVE)))
            }
            journal.settle(alive)
            if not config.preview:
                journal.resolve(config.confirm_sent, SUCCEEDED)
                journal.resolve(config.resend, FAILED)
            yield con, journal
    finally:
        folder.remove()


def calls_check(
    counts: Counter, journal: Journal, kinds: tuple[str, ...]
) -> tuple[dg.AssetCheckResult, dict[str, Any]]:
    """The asset's check: failed if a call of this run failed or any key of ``kinds`` is in
    doubt (on every run, until an operator decides it); the keys in doubt and the keys held by
    other runs, also as the asset's metadata."""
    doubtful = journal.keys(kinds, IN_DOUBT)
    held = journal.keys(kinds, CLAIMED)
    passed = counts[FAILED] == 0 and not doubtful
    keys: dict[str, Any] = {
        "in_doubt_call_keys": dg.MetadataValue.json(doubtful),
        "held_call_keys": dg.MetadataValue.json(held),
    }
    description = (
        "every call succeeded"
        if passed
        else f"{counts[FAILED]} failed (retried next run), {len(doubtful)} in doubt (never "
        "re-sent: decide each with confirm_sent or resend in the run config)"
    )
    if held:
        description += f"; {len(held)} held by runs still marked running (not sent by this run)"
    check = dg.AssetCheckResult(
        check_name=CALLS_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata=keys,
    )
    return check, keys


def stop_on_auth(outcome: Outcome, api: str, variable: str) -> None:
    if outcome.status in AUTH_ERRORS:
        raise dg.Failure(
            description=f"{api} answered {outcome.status} ({outcome.error}): check {variable}; "
            "no further call was made",
            allow_retries=False,
        )


def made(
    journal: Journal, call: Call, do: Callable[[], Outcome], counts: Counter
) -> Outcome | None:
    """One journaled call: claimed (or None, counted, when its key is not free), made, recorded."""
    attempt = journal.claim(call)
    if attempt is None:
        counts[journal.state(call.key) or "not_claimed"] += 1
        return None
    outcome = do()
    journal.finish(call, attempt, outcome)
    counts[outcome.outcome] += 1
    return outcome
