"""Document 001's loyalty program, driven from the warehouse: Attentive as the SMS gateway of the
brand's loyalty program (Annex Cloud), as three assets run together by ``loyalty_job`` on the
document's recurring trigger (``LOYALTY_CRON``):

1. ``loyalty/attentive_subscriptions``: opted-in members whose TEXT subscription is eligible are
   subscribed; opted-out members are unsubscribed; each change of a member's wanted state is one
   call, made once.
2. ``loyalty/attentive_messages``: each loyalty action's message sent exactly once.
3. ``loyalty/annex_cloud_segments``: the day's segment (opted-in members who ordered through an
   SMS in the last 30 days, by email) created in Annex Cloud once a day, and exported as a CSV
   for upload to Attentive (which has no segment API).

Every call goes through the journal (:mod:`.journal`: ``platform.api_intents`` and
``platform.api_calls``): its key claimed before the call, never repeated once it succeeded,
retried by the next run when it failed, held while the run that claimed it looks alive, and in
doubt (listed by the check on every run, never re-sent) when that run ended without an answer,
until an operator decides (``confirm_sent`` / ``resend``). What is sent, intent by intent, is in
:mod:`.intents`. Phones are normalized to E.164 (``phonenumbers``) before any call; metadata holds
counts and keys, never a phone, an email or a token.
"""

import datetime as dt
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from platform_assets.core.formulas import escaped_sql
from platform_assets.core.segments import Segment
from platform_assets.core.settings import LoyaltySettings
from platform_assets.core.specs import quote_literal
from platform_assets.core.transport.upload import sha256_of
from platform_assets.core.warehouse import WAREHOUSE_RESOURCE, LoaderSettings
from platform_assets.outbound.loyalty.intents import reconcile_subscriptions, send_messages, would
from platform_assets.outbound.loyalty.journal import Call, Journal
from platform_assets.outbound.loyalty.resources import AnnexCloudApi, AttentiveApi
from platform_assets.outbound.loyalty.session import (
    CALLS_CHECK,
    LoyaltyConfig,
    calls_check,
    journaled,
    made,
    stop_on_auth,
)
from platform_assets.outbound.preview import PreviewItem, masked, observation
from platform_assets.outbound.preview import record as record_preview

GROUP = "loyalty"
ATTENTIVE_API = "attentive_api"
ANNEX_CLOUD_API = "annex_cloud_api"
SUBSCRIPTIONS = dg.AssetKey([GROUP, "attentive_subscriptions"])
MESSAGES = dg.AssetKey([GROUP, "attentive_messages"])
SEGMENTS = dg.AssetKey([GROUP, "annex_cloud_segments"])


Reported = dg.MaterializeResult | dg.AssetObservation | dg.AssetCheckResult


Context = dg.AssetExecutionContext | dg.OpExecutionContext


def _reported(
    context: Context,
    key: dg.AssetKey,
    journal: Journal,
    counts: Counter,
    kinds: tuple[str, ...],
    metadata: dict[str, Any],
    preview: list[PreviewItem] | None,
) -> Iterator[Reported]:
    """The run's report: its materialization with the calls check, or, for a preview, the
    items kept in platform.outbound_previews and observed (never a materialization)."""
    check, keys = calls_check(counts, journal, kinds)
    if preview is None:
        counted = {f"calls_{k}": v for k, v in counts.items()}
        yield dg.MaterializeResult(metadata={**metadata, **counted, **keys}, check_results=[check])
        return
    with journal.transaction() as wh:
        record_preview(journal.con, wh, context.run.run_id, key, None, preview)
    yield observation(key, None, preview, counts)
    yield check


def _preview_op(
    key: dg.AssetKey,
    body: Callable[[Context, LoyaltyConfig, dg.AssetKey], Iterator[Reported]],
    required: set[str],
) -> dg.OpDefinition:
    """An op that runs ``body`` (an asset's work) in preview mode and keeps its observation."""

    @dg.op(
        name=f"preview_{key.to_python_identifier()}",
        out={},  # observations only
        required_resource_keys=required,
        tags={"direction": "outbound"},
        description=f"{key.to_user_string()} in preview mode: nothing sent.",
    )
    def _preview(context: dg.OpExecutionContext) -> Iterator[dg.AssetObservation]:
        for event in body(context, LoyaltyConfig(preview=True), key):
            if isinstance(event, dg.AssetObservation):
                yield event

    return _preview


# -- the assets ------------------------------------------------------------------------------


def build_loyalty_definitions(
    loyalty: LoyaltySettings,
    segments: tuple[Segment, ...],
    loader: LoaderSettings,
    attentive: AttentiveApi,
    annex_cloud: AnnexCloudApi,
) -> dg.Definitions:
    """The three assets, ``loyalty_job`` and its schedule on ``LOYALTY_CRON``."""
    members_key = dg.AssetKey(loyalty.members.split("."))
    actions_key = dg.AssetKey(loyalty.actions.split("."))
    converters_key = dg.AssetKey(loyalty.converters.split("."))
    common: dict[str, Any] = {  # no writer pool: the journal attaches the warehouse per write
        "output_required": False,  # a preview observes; it never materializes
        "group_name": GROUP,
        "owners": ["team:crm"],
        "tags": {"direction": "outbound", "api": "true"},
    }

    @dg.asset(
        key=SUBSCRIPTIONS,
        deps=[members_key],
        kinds={"api", "duckdb"},
        required_resource_keys={ATTENTIVE_API, WAREHOUSE_RESOURCE},
        check_specs=[dg.AssetCheckSpec(CALLS_CHECK, asset=SUBSCRIPTIONS)],
        description=(
            f"Attentive SMS subscriptions reconciled with {loyalty.members}: opted-in members "
            "whose TEXT subscription is eligible are subscribed (POST /v1/subscriptions after GET "
            "/v1/subscriptions), opted-out members unsubscribed; each change once (journal: "
            "platform.api_calls)."
        ),
        **common,
    )
    def attentive_subscriptions(
        context: dg.AssetExecutionContext, config: LoyaltyConfig
    ) -> Iterator[Reported]:
        yield from subscriptions(context, config, SUBSCRIPTIONS)

    def subscriptions(
        context: Context, config: LoyaltyConfig, key: dg.AssetKey
    ) -> Iterator[Reported]:
        api: AttentiveApi = getattr(context.resources, ATTENTIVE_API)
        counts: Counter = Counter()
        kinds = ("subscribe", "unsubscribe")
        resource = getattr(context.resources, WAREHOUSE_RESOURCE)
        with journaled(context, config, resource, loader) as (_, journal):
            members = journal.read(
                "SELECT DISTINCT member_id::VARCHAR, phone::VARCHAR, email::VARCHAR, sms_opt_in "
                f"FROM {{wh}}.{loyalty.members} ORDER BY ALL"
            )
            preview: list[PreviewItem] | None = [] if config.preview else None
            reconcile_subscriptions(
                journal, api, members, loyalty.phone_region, loyalty.eligibility_ttl_hours,
                counts, preview,
            )  # fmt: skip
            yield from _reported(
                context, key, journal, counts, kinds, {"members": len(members)}, preview
            )

    @dg.asset(
        key=MESSAGES,
        deps=[actions_key, members_key, SUBSCRIPTIONS],
        kinds={"api", "duckdb"},
        required_resource_keys={ATTENTIVE_API, WAREHOUSE_RESOURCE},
        check_specs=[dg.AssetCheckSpec(CALLS_CHECK, asset=MESSAGES)],
        description=(
            f"Loyalty-action SMS: each action of {loyalty.actions} (of the last "
            f"{loyalty.message_lookback_hours} h, for opted-in members) sent once with POST "
            "/v1/subscriptions/messages (the legacy messages token); journal: platform.api_calls."
        ),
        **common,
    )
    def attentive_messages(
        context: dg.AssetExecutionContext, config: LoyaltyConfig
    ) -> Iterator[Reported]:
        yield from messages(context, config, MESSAGES)

    def messages(context: Context, config: LoyaltyConfig, key: dg.AssetKey) -> Iterator[Reported]:
        api: AttentiveApi = getattr(context.resources, ATTENTIVE_API)
        counts: Counter = Counter()
        since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(
            hours=loyalty.message_lookback_hours
        )
        resource = getattr(context.resources, WAREHOUSE_RESOURCE)
        with journaled(context, config, resource, loader) as (_, journal):
            actions = journal.read(
                "SELECT a.action_id::VARCHAR, a.member_id::VARCHAR, a.message_text, m.phone "
                f"FROM {{wh}}.{loyalty.actions} a JOIN {{wh}}.{loyalty.members} m "
                "ON m.member_id::VARCHAR = a.member_id::VARCHAR "
                "WHERE m.sms_opt_in AND a.action_time >= $since "
                "AND nullif(trim(a.message_text), '') IS NOT NULL "
                "ORDER BY a.action_time, 1, 2, 3, 4",
                {"since": since},
            )
            preview: list[PreviewItem] | None = [] if config.preview else None
            send_messages(journal, api, actions, loyalty.phone_region, counts, preview)
            metadata = {"actions": len(actions)}
            yield from _reported(context, key, journal, counts, ("message",), metadata, preview)

    @dg.asset(
        key=SEGMENTS,
        deps=[converters_key, members_key],
        kinds={"api", "csv", "duckdb"},
        required_resource_keys={ANNEX_CLOUD_API, WAREHOUSE_RESOURCE},
        check_specs=[dg.AssetCheckSpec(CALLS_CHECK, asset=SEGMENTS)],
        description=(
            "Annex Cloud segments (POST /api/3.0/segment), once a day each: "
            + "; ".join(f"{s.name} ({s.window_days} days)" for s in segments)
            + f": opted-in members of {loyalty.members} whose email is in {loyalty.converters} "
            f"in the window; also exported to {loyalty.export_dir} as a CSV for upload to "
            "Attentive (it has no segment API)."
        ),
        **common,
    )
    def annex_cloud_segments(
        context: dg.AssetExecutionContext, config: LoyaltyConfig
    ) -> Iterator[Reported]:
        yield from segments_of_the_day(context, config, SEGMENTS)

    def segments_of_the_day(
        context: Context, config: LoyaltyConfig, key: dg.AssetKey
    ) -> Iterator[Reported]:
        api: AnnexCloudApi = getattr(context.resources, ANNEX_CLOUD_API)
        counts: Counter = Counter()
        day = dt.datetime.now(dt.UTC).date()
        exported, ids = [], []
        resource = getattr(context.resources, WAREHOUSE_RESOURCE)
        preview: list[PreviewItem] | None = [] if config.preview else None
        with (
            journaled(context, config, resource, loader) as (con, journal),
            tempfile.TemporaryDirectory(prefix="segment-preview-") as scratch,
        ):
            for segment in segments:
                first = day - dt.timedelta(days=segment.window_days - 1)
                journal.read(  # the segment's members, once: sent to Annex Cloud and exported
                    "CREATE OR REPLACE TEMP TABLE segment_members AS "
                    "SELECT DISTINCT lower(trim(c.email)) AS email "
                    f"FROM {{wh}}.{loyalty.converters} c "
                    f"WHERE c.delivery_date BETWEEN DATE '{first}' AND DATE '{day}' "
                    f"AND lower(trim(c.email)) IN (SELECT lower(trim(email)) "
                    f"FROM {{wh}}.{loyalty.members} WHERE sms_opt_in) ORDER BY 1"
                )
                emails = "SELECT email FROM segment_members ORDER BY 1"
                members = [e for (e,) in con.execute(emails).fetchall()]
                name = f"attentive_segment_{segment.key}_{day:%Y%m%d}.csv"
                path = Path(scratch if preview is not None else loyalty.export_dir) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                con.execute(
                    f"COPY (SELECT {escaped_sql('email')} AS email FROM ({emails})) "
                    f"TO {quote_literal(str(path))} (FORMAT csv, HEADER true)"
                )
                call = Call(f"segment:{segment.key}:{day}", "segment")
                if not members:
                    counts["empty"] += 1
                    continue
                if preview is not None:  # the export's bytes and the call, neither kept nor made
                    sample = masked(["email"], [[e] for e in members])
                    preview.append(
                        PreviewItem("export", name, len(members), sha256_of(path), sample)
                    )
                    would(journal, call, counts, preview, {"members": str(len(members))})
                    continue
                exported.append(str(path))
                outcome = made(
                    journal,
                    call,
                    partial(
                        api.create_segment,
                        name=segment.name,
                        segment_type=segment.segment_type,
                        from_date=first.isoformat(),
                        to_date=day.isoformat(),
                        members=members,
                        external_id=f"{segment.key}-{day:%Y%m%d}",
                        external_name=segment.name,
                    ),
                    counts,
                )
                if outcome is None:
                    continue
                stop_on_auth(outcome, "Annex Cloud", "ANNEX_CLOUD_LOYALTY_TOKEN")
                if outcome.ok:
                    ids.append(str(outcome.body.get("segmentId")))
                counts[f"{segment.key}_members"] = len(members)
            metadata = {"segment_ids": ", ".join(ids), "exports": ", ".join(exported)}
            yield from _reported(context, key, journal, counts, ("segment",), metadata, preview)

    job = dg.define_asset_job(
        "loyalty_job",
        selection=dg.AssetSelection.assets(
            attentive_subscriptions, attentive_messages, annex_cloud_segments
        ),
        description="Document 001's trigger: subscriptions, then messages, then segments.",
    )
    previews = [
        _preview_op(key, body, required)
        for key, body, required in (
            (SUBSCRIPTIONS, subscriptions, {ATTENTIVE_API, WAREHOUSE_RESOURCE}),
            (MESSAGES, messages, {ATTENTIVE_API, WAREHOUSE_RESOURCE}),
            (SEGMENTS, segments_of_the_day, {ANNEX_CLOUD_API, WAREHOUSE_RESOURCE}),
        )
    ]

    @dg.job(
        name="loyalty_preview_job",
        description=(
            "What loyalty_job would send now (calls by kind and their keys, the segments' exports "
            "with SHA-256, first rows masked), kept in platform.outbound_previews and observed on "
            "each asset; nothing is sent, nothing materialized. (One asset alone: materialize it "
            "with the run config `preview: true`.)"
        ),
    )
    def loyalty_preview_job() -> None:
        for op in previews:  # independent: a preview does not wait for another's output
            op()

    schedule = dg.ScheduleDefinition(
        name="loyalty_schedule",
        job=job,
        cron_schedule=loyalty.cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,  # it texts customers: off until turned on
        description=(
            f"The loyalty program's recurring trigger (LOYALTY_CRON: {loyalty.cron}). Stopped by "
            "default: turn it on once the program's relations are right."
        ),
    )
    return dg.Definitions(
        assets=[attentive_subscriptions, attentive_messages, annex_cloud_segments],
        jobs=[job, loyalty_preview_job],
        schedules=[schedule],
        resources={ATTENTIVE_API: attentive, ANNEX_CLOUD_API: annex_cloud},
    )
