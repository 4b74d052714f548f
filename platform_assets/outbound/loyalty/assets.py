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
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from platform_assets.core.formulas import escaped_sql
from platform_assets.core.segments import Segment
from platform_assets.core.settings import LoyaltySettings
from platform_assets.core.specs import quote_literal
from platform_assets.core.warehouse import WAREHOUSE_RESOURCE, LoaderSettings
from platform_assets.outbound.loyalty.intents import reconcile_subscriptions, send_messages
from platform_assets.outbound.loyalty.journal import Call
from platform_assets.outbound.loyalty.resources import AnnexCloudApi, AttentiveApi
from platform_assets.outbound.loyalty.session import (
    CALLS_CHECK,
    LoyaltyConfig,
    calls_check,
    journaled,
    made,
    stop_on_auth,
)

GROUP = "loyalty"
ATTENTIVE_API = "attentive_api"
ANNEX_CLOUD_API = "annex_cloud_api"
SUBSCRIPTIONS = dg.AssetKey([GROUP, "attentive_subscriptions"])
MESSAGES = dg.AssetKey([GROUP, "attentive_messages"])
SEGMENTS = dg.AssetKey([GROUP, "annex_cloud_segments"])


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
    ) -> dg.MaterializeResult:
        api: AttentiveApi = getattr(context.resources, ATTENTIVE_API)
        counts: Counter = Counter()
        kinds = ("subscribe", "unsubscribe")
        resource = getattr(context.resources, WAREHOUSE_RESOURCE)
        with journaled(context, config, resource, loader) as (_, journal):
            members = journal.read(
                "SELECT DISTINCT member_id::VARCHAR, phone::VARCHAR, email::VARCHAR, sms_opt_in "
                f"FROM {{wh}}.{loyalty.members} ORDER BY ALL"
            )
            reconcile_subscriptions(
                journal, api, members, loyalty.phone_region, loyalty.eligibility_ttl_hours, counts
            )
            check, keys = calls_check(counts, journal, kinds)
        return dg.MaterializeResult(
            metadata={
                "members": len(members),
                **{f"calls_{k}": v for k, v in counts.items()},
                **keys,
            },
            check_results=[check],
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
    ) -> dg.MaterializeResult:
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
            send_messages(journal, api, actions, loyalty.phone_region, counts)
            check, keys = calls_check(counts, journal, ("message",))
        return dg.MaterializeResult(
            metadata={
                "actions": len(actions),
                **{f"calls_{k}": v for k, v in counts.items()},
                **keys,
            },
            check_results=[check],
        )

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
    ) -> dg.MaterializeResult:
        api: AnnexCloudApi = getattr(context.resources, ANNEX_CLOUD_API)
        counts: Counter = Counter()
        day = dt.datetime.now(dt.UTC).date()
        exported, ids = [], []
        resource = getattr(context.resources, WAREHOUSE_RESOURCE)
        with journaled(context, config, resource, loader) as (con, journal):
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
                path = (
                    Path(loyalty.export_dir) / f"attentive_segment_{segment.key}_{day:%Y%m%d}.csv"
                )
                path.parent.mkdir(parents=True, exist_ok=True)
                con.execute(
                    f"COPY (SELECT {escaped_sql('email')} AS email FROM ({emails})) "
                    f"TO {quote_literal(str(path))} (FORMAT csv, HEADER true)"
                )
                exported.append(str(path))
                call = Call(f"segment:{segment.key}:{day}", "segment")
                if not members:
                    counts["empty"] += 1
                    continue
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
            check, keys = calls_check(counts, journal, ("segment",))
        return dg.MaterializeResult(
            metadata={
                "segment_ids": ", ".join(ids),
                "exports": ", ".join(exported),
                **{f"calls_{k}": v for k, v in counts.items()},
                **keys,
            },
            check_results=[check],
        )

    job = dg.define_asset_job(
        "loyalty_job",
        selection=dg.AssetSelection.assets(
            attentive_subscriptions, attentive_messages, annex_cloud_segments
        ),
        description="Document 001's trigger: subscriptions, then messages, then segments.",
    )
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
        jobs=[job],
        schedules=[schedule],
        resources={ATTENTIVE_API: attentive, ANNEX_CLOUD_API: annex_cloud},
    )
