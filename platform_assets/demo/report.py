"""What ``make demo`` prints after its stages: the tables loaded, the marts as a short report
(no personal identifier is in any mart), and what went out to the vendors."""

from __future__ import annotations

import duckdb

from platform_assets.core.specs import quote_ident
from platform_assets.defs import VENDOR_SOURCES


def tables(warehouse: str, read: dict[str, int], partitions: dict[str, int]) -> list[str]:
    """Per table: partitions loaded, rows read from files, rows and keys in the table, rejects."""
    lines = [
        f"{'table':40} {'partitions':>10} {'rows read':>9} {'rows':>7} {'keys':>7} {'rejects':>7}"
    ]
    with duckdb.connect(warehouse, read_only=True) as con:
        for spec in (t for s in VENDOR_SOURCES for t in s.tables):
            [(rows, keys)] = con.execute(
                f"SELECT count(*), count(DISTINCT {quote_ident(spec.key)}) "
                f"FROM {spec.qualified_name}"
            ).fetchall()
            [(rejects,)] = con.execute(
                f"SELECT count(*) FROM {spec.schema}.{spec.rejects_table}"
            ).fetchall()
            name = spec.qualified_name
            lines.append(
                f"{name:40} {partitions.get(name, 0):>10} {read.get(name, 0):>9} {rows:>7} "
                f"{keys:>7} {rejects:>7}"
            )
    return lines


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def marts(warehouse: str) -> list[str]:
    """The marts' figures over the demo's days, as a report."""
    with duckdb.connect(warehouse, read_only=True) as con:
        sms = con.execute(
            "SELECT platform, sum(messages), sum(attributed_orders), sum(attributed_revenue) "
            "FROM marts.sms_daily_performance GROUP BY 1 ORDER BY 1"
        ).fetchall()
        push = con.execute(
            "SELECT app_id, sum(sends), sum(bounces), sum(reactions) "
            "FROM marts.push_message_performance GROUP BY 1 ORDER BY 1"
        ).fetchall()
        [(calls, bought, value)] = con.execute(
            "SELECT sum(calls), sum(calls_with_purchase), sum(purchase_value) "
            "FROM marts.contact_center_outcomes"
        ).fetchall()
        [(people, several, events, vendors)] = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE vendors > 1), sum(events), "
            "(SELECT count(DISTINCT vendor) FROM marts.customer_timeline) FROM (SELECT "
            "customer_key, count(DISTINCT vendor) AS vendors, count(*) AS events "
            "FROM marts.customer_timeline GROUP BY 1)"
        ).fetchall()
    lines = [
        "SMS (marts.sms_daily_performance)",
        f"  {'platform':<12} {'messages':>10} {'orders':>8} {'revenue':>14} {'per message':>12}",
    ]
    for platform, messages, orders, revenue in sms:
        per = f"{revenue / messages:,.2f}" if messages else "-"
        lines.append(f"  {platform:<12} {messages:>10,} {orders:>8,} {revenue:>14,.2f} {per:>12}")
    lines += [
        "Push (marts.push_message_performance)",
        f"  {'app':<12} {'sends':>10} {'bounced':>8} {'reactions':>10} {'of delivered':>12}",
    ]
    for app, sends, bounces, reactions in push:
        lines.append(
            f"  {app:<12} {sends:>10,} {_share(bounces, sends):>8} {reactions:>10,} "
            f"{_share(reactions, sends - bounces):>12}"
        )
    lines.append(
        f"Contact center (marts.contact_center_outcomes): {calls or 0:,} calls, "
        f"{bought or 0:,} ({_share(bought or 0, calls or 0)}) followed by a purchase worth "
        f"{value or 0:,.2f}"
    )
    lines.append(
        f"Customers (marts.customer_timeline): {events or 0:,} events at {vendors} vendors; "
        f"customers with events at more than one vendor: {several} of {people}"
    )
    return lines


def files_sent(warehouse: str, run_ids: list[str]) -> int:
    """The files runs ``run_ids`` uploaded (platform.deliveries)."""
    with duckdb.connect(warehouse, read_only=True) as con:
        return int(
            con.execute(
                "SELECT count(*) FROM platform.deliveries WHERE list_contains($runs, run_id)",
                {"runs": run_ids},
            ).fetchone()[0]  # type: ignore[index]
        )


def outbound(warehouse: str) -> list[str]:
    """The files sent (platform.deliveries) and the API calls made (platform.api_calls)."""
    lines = []
    with duckdb.connect(warehouse, read_only=True) as con:
        for name, rows, sent in con.execute(  # a demo run again sends the same files again
            "SELECT file_name, arg_max(rows, uploaded_at), count(*) FROM platform.deliveries "
            "GROUP BY ALL ORDER BY 1"
        ).fetchall():
            again = f" (sent {sent} times)" if sent > 1 else ""
            lines.append(f"  {name:58} {rows:>6} rows{again}")
        for kind, status, n in con.execute(
            "SELECT kind, status, count(*) FROM platform.api_calls GROUP BY ALL ORDER BY ALL"
        ).fetchall():
            lines.append(f"  {kind:20} {status:12} {n:>6}")
    return lines
