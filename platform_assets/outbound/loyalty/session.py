"""What every journaled API asset shares: the run config for calls left in doubt, the session
(warehouse attached, journal opened, dead runs' calls settled), one journaled call, the check
that reports failed and doubtful calls, and the stop on an authentication error."""

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
import phonenumbers
from dagster_duckdb import DuckDBResource
from pydantic import Field

from platform_assets.core.warehouse import LoaderSettings, attached_warehouse, staging_connection
from platform_assets.core.workdir import new_work_folder
from platform_assets.outbound.loyalty.http import FAILED, IN_DOUBT, SUCCEEDED, Outcome
from platform_assets.outbound.loyalty.journal import Call, Journal

CALLS_CHECK = "no_failed_or_doubtful_calls"
AUTH_ERRORS = {401, 403}


class LoyaltyConfig(dg.Config):
    """An operator's decision on calls left in doubt (their keys are in the check's metadata)."""

    confirm_sent: list[str] = Field(
        default_factory=list, description="In-doubt call keys that did happen (never re-sent)."
    )
    resend: list[str] = Field(
        default_factory=list, description="In-doubt call keys that did not happen (sent again)."
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


@contextmanager
def journaled(
    context: dg.AssetExecutionContext,
    config: LoyaltyConfig,
    warehouse: DuckDBResource,
    loader: LoaderSettings,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, str, Journal, list[Call]]]:
    """The warehouse attached, the journal, and the calls a dead run left in doubt (now
    marked so); the operator's decisions of the run config applied first."""
    folder = new_work_folder(loader.work_dir, "api")
    try:
        with (
            staging_connection(loader, folder.path) as con,
            attached_warehouse(con, warehouse.database, loader.lock_wait_seconds) as wh,
        ):
            journal = Journal(con, wh, context.run.run_id)
            active = {
                r.run_id
                for r in context.instance.get_runs(
                    filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
                )
            }
            doubtful = journal.settle_crashed(active)
            journal.resolve(config.confirm_sent, SUCCEEDED)
            journal.resolve(config.resend, FAILED)
            yield con, wh, journal, doubtful
    finally:
        folder.remove()


def calls_check(counts: Counter, doubtful: list[str]) -> dg.AssetCheckResult:
    bad = counts[FAILED] + counts[IN_DOUBT]
    return dg.AssetCheckResult(
        check_name=CALLS_CHECK,
        passed=bad == 0 and not doubtful,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "every call succeeded"
            if bad == 0 and not doubtful
            else f"{counts[FAILED]} failed (retried next run), {counts[IN_DOUBT] + len(doubtful)} "
            "in doubt (not re-sent: confirm_sent or resend them in the run config)"
        ),
        metadata={"in_doubt_call_keys": dg.MetadataValue.json(sorted(doubtful))},
    )


def stop_on_auth(outcome: Outcome, api: str, variable: str) -> None:
    if outcome.status in AUTH_ERRORS:
        raise dg.Failure(
            description=f"{api} answered {outcome.status} ({outcome.error}): check {variable}; "
            "no further call was made",
            allow_retries=False,
        )


def made(journal: Journal, call: Call, do: Callable[[], Outcome], counts: Counter) -> Outcome:
    """One journaled call: recorded before, made, recorded after."""
    attempt = journal.begin(call)
    outcome = do()
    journal.finish(call, attempt, outcome)
    counts[outcome.outcome] += 1
    return outcome
