"""Preview before sending: what an outbound asset *would* send, computed exactly as a real run
computes it, kept, and nothing sent.

Every outbound asset (the deliveries, the loyalty subscriptions, messages and segments) takes the
run config ``preview: true``; the jobs ``<vendor>_deliveries_preview_job`` and
``loyalty_preview_job`` set it. A preview run writes and checks the files (deliveries) or decides
the intents against the journal (loyalty), then, instead of uploading or calling:

- records one row per file or intent in ``platform.outbound_previews`` (run, time, asset,
  partition, kind, name, rows, SHA-256, a sample of the first rows masked as metadata is);
- reports the same as an observation of the asset (counts per kind and the table), never a
  materialization: a previewed day is not a delivered day, and the automation still sends it.

A brand diffs a preview against what was sent: the same rows make the same bytes, so a file's
SHA-256 equals ``platform.deliveries.sha256`` of its later upload, and an intent's key appears in
``platform.api_intents`` once sent.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field

from platform_assets.core.masking import shape, shown
from platform_assets.core.metadata import table_metadata

SAMPLE_ROWS = 3
DDL = (
    "CREATE SCHEMA IF NOT EXISTS {wh}.platform",
    "CREATE TABLE IF NOT EXISTS {wh}.platform.outbound_previews (run_id VARCHAR, "
    "previewed_at TIMESTAMP, asset VARCHAR, partition_key VARCHAR, kind VARCHAR, name VARCHAR, "
    "rows BIGINT, sha256 VARCHAR, sample VARCHAR)",
)


class PreviewConfig(dg.Config):
    """``preview: true``: compute and keep what would be sent; send nothing."""

    preview: bool = Field(
        default=False,
        description=(
            "Compute what would be sent (files with rows and SHA-256, or the calls by kind), keep "
            "it in platform.outbound_previews and the asset's observation, and send nothing."
        ),
    )


@dataclass(frozen=True)
class PreviewItem:
    """One file or one intent that a run would send."""

    kind: str
    """``file``, or the call's kind (``message``, ``subscribe``, ...)."""
    name: str
    """The file's name, or the call's idempotency key."""
    rows: int = 1
    sha256: str | None = None
    sample: list[dict[str, str | None]] = field(default_factory=list)
    """The first rows, masked (:func:`platform_assets.core.masking.shown`)."""


def masked(
    header: Sequence[str], rows: Sequence[Sequence[str | None]], personal: Sequence[str] = ()
) -> list[dict]:
    """Rows as metadata may show them: personal columns (by name, and ``personal``: a key
    under a vendor's own header) by their shape only."""

    def one(column: str, value: str | None) -> str | None:
        return shape(value) if value is not None and column in personal else shown(column, value)

    return [
        {column: one(column, value) for column, value in zip(header, row, strict=False)}
        for row in rows[:SAMPLE_ROWS]
    ]


def file_sample(path: Path, delimiter: str, personal: Sequence[str] = ()) -> list[dict]:
    """The first rows of a written file, masked."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, [])
        rows = [row for _, row in zip(range(SAMPLE_ROWS), reader, strict=False)]
    return masked(header, rows, personal)


def record(
    con: duckdb.DuckDBPyConnection,
    wh: str,
    run_id: str,
    asset: dg.AssetKey,
    partition: str | None,
    items: Sequence[PreviewItem],
) -> None:
    """Keep the preview's items (one committed insert)."""
    for statement in DDL:
        con.execute(statement.format(wh=wh))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.executemany(
        f"INSERT INTO {wh}.platform.outbound_previews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                now,
                asset.to_user_string(),
                partition,
                i.kind,
                i.name,
                i.rows,
                i.sha256,
                json.dumps(i.sample),
            )  # fmt: skip
            for i in items
        ],
    )


def observation(
    asset: dg.AssetKey,
    partition: str | None,
    items: Sequence[PreviewItem],
    counts: Counter | None = None,
) -> dg.AssetObservation:
    """The preview as the asset's observation: counts per kind and the items (at most 100)."""
    per_kind = Counter(i.kind for i in items)
    return dg.AssetObservation(
        asset_key=asset,
        partition=partition,
        metadata={
            "preview": True,
            "would_send": len(items),
            **{f"would_send_{k}": n for k, n in sorted(per_kind.items())},
            **{f"calls_{k}": v for k, v in sorted((counts or {}).items())},
            "items": table_metadata(
                [
                    {
                        "kind": i.kind,
                        "name": i.name,
                        "rows": i.rows,
                        "sha256": i.sha256 or "",
                        "sample": json.dumps(i.sample)[:500],
                    }
                    for i in items[:100]
                ],
                [
                    ("kind", "string"),
                    ("name", "string"),
                    ("rows", "int"),
                    ("sha256", "string"),
                    ("sample", "string"),
                ],
            ),  # fmt: skip
            "kept_in": "platform.outbound_previews",
        },
    )


def preview_job_config(op_names: Sequence[str], extra: dict | None = None) -> dict:
    """The run config of a preview job over ``op_names``."""
    return {"ops": {name: {"config": {"preview": True, **(extra or {})}} for name in op_names}}
