"""A vendor source, declared once (:class:`VendorSource`), and as configured for one deployment
(:class:`ConfiguredSource`): what every builder of assets, checks, sensors and schedules reads.

A vendor is one file under ``platform_assets/defs/`` holding its table specs and one
``VendorSource``; ``platform_assets.defs.VENDOR_SOURCES`` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from platform_assets.core.deliveries import (
    ConfiguredDelivery,
    Delivery,
    DeviceUpdates,
    StaticList,
)
from platform_assets.core.partitions import app_file_partitions, daily_file_partitions
from platform_assets.core.settings import Settings, SourceSettings
from platform_assets.core.specs import TableSpec, VendorDocument
from platform_assets.core.warehouse import LoaderSettings


@dataclass(frozen=True)
class VendorSource:
    """Everything that differs between vendor sources, and nothing else."""

    name: str
    """Dagster group, owner team, resource ``<name>_sftp``, settings prefix ``<NAME>_*``."""
    tables: tuple[TableSpec, ...]
    description: str
    document: VendorDocument
    timezone: str = "UTC"
    """The vendor's day: its partitions' and its schedule's time zone (IANA name)."""
    schedule_cron: str = "0 7 * * *"
    """When the daily schedule loads the previous day's files, in :attr:`timezone`."""
    per_app_columns: tuple[str, ...] = ()
    """Documented columns whose header each app names itself (``<NAME>_<COLUMN>_COLUMNS``)."""
    arrival_cron: str = "0 6 * * *"
    """When a day's files are due (in :attr:`timezone`): a table not loaded in the 24 hours
    before this deadline is overdue (``<NAME>_ARRIVAL_CRON`` overrides it)."""
    history_day_columns: Mapping[str, str] = field(default_factory=dict)
    """Tables the vendor also sends as one historical file of many days -> the CSV column whose
    date (in :attr:`timezone`) is a row's day (the source gets a ``<name>_history_job``)."""
    documented_folder: str = ""
    """The folder the document puts the exports in, under the login folder (ASAPP: ``out``);
    the demo serves the files there and ``<NAME>_SFTP_REMOTE_DIR`` should point at it."""
    deliveries: tuple[Delivery, ...] = ()
    """Files the brand sends this vendor (defined where ``<NAME>_DELIVERY_SFTP_USERNAME`` is)."""
    delivery_folder: str = "."
    """Where the vendor takes deliveries, from the login folder (ASAPP: ``in``);
    ``<NAME>_DELIVERY_SFTP_REMOTE_DIR`` overrides it."""

    def __post_init__(self) -> None:
        others = sorted({t.source for t in self.tables} - {self.name})
        if others:
            raise ValueError(f"{self.name}: tables of other sources {others}")
        if len({t.has_app for t in self.tables}) > 1:
            raise ValueError(f"{self.name}: either every table has one file per app, or none")
        known = {c for t in self.tables for c in t.csv_columns}
        unknown = sorted(set(self.per_app_columns) - known)
        if unknown:
            raise ValueError(f"{self.name}: per-app columns {unknown} are in no table")
        by_table = {t.table: t for t in self.tables}
        for table, column in self.history_day_columns.items():
            if table not in by_table or column not in by_table[table].csv_columns:
                raise ValueError(f"{self.name}: history day column {table}.{column} is unknown")

    @property
    def prefix(self) -> str:
        return self.name.upper()

    @property
    def has_apps(self) -> bool:
        """Partitioned by (date, app): one file per app and day."""
        return bool(self.tables) and self.tables[0].has_app

    @property
    def sftp_resource_key(self) -> str:
        return f"{self.name}_sftp"

    def configure(self, settings: Settings) -> ConfiguredSource:
        """This source as ``settings`` configure it (file patterns, apps, per-app headers)."""
        own = settings.source(
            self.prefix,
            [t.table for t in self.tables],
            self.per_app_columns,
            has_apps=self.has_apps,
        )
        tables = tuple(t.with_file_pattern(own.file_patterns.get(t.table)) for t in self.tables)
        partitions: dg.PartitionsDefinition = (
            app_file_partitions(own.app_ids, settings.start_date, self.timezone)
            if self.has_apps
            else daily_file_partitions(settings.start_date, self.timezone)
        )
        return ConfiguredSource(
            source=self,
            deliveries=self._deliveries(settings, own),
            arrival_cron=own.arrival_cron or self.arrival_cron,
            tables=tables,
            partitions_def=partitions,
            app_ids=own.app_ids,
            column_sources=own.column_names_by_app,
            loader=settings.loader,
            backfill_partitions_per_run=settings.backfill_partitions_per_run,
            owners=own.owners or (f"team:{self.name}",),
        )

    def _deliveries(
        self, settings: Settings, own: SourceSettings
    ) -> tuple[ConfiguredDelivery, ...]:
        """Each delivery with its relation, daily partitions (the vendor's days up to
        yesterday) and apps;
        device updates once per app. None without a delivery account."""
        if not self.deliveries or not settings.delivers(self.prefix):
            return ()
        # up to yesterday (no end offset, unlike the loads): the cron sends the last *whole*
        # day, never today's partial one
        daily = dg.DailyPartitionsDefinition(start_date=settings.start_date, timezone=self.timezone)
        headers = {
            app: own.column_names_by_app.get(app, {}).get("member_id", "member_id")
            for app in own.app_ids
        }
        configured = []
        for spec in self.deliveries:
            relation = settings.relation(spec.setting, spec.relation)
            if relation is None:
                continue
            groups: list[tuple[str, ...]] = (
                [(a,) for a in own.app_ids] if isinstance(spec, DeviceUpdates) else [own.app_ids]
            )
            allow_empty = isinstance(spec, StaticList) and settings.flag(
                f"{self.prefix}_ALLOW_EMPTY_STATIC_LISTS"
            )
            configured += [
                ConfiguredDelivery(spec, relation, daily, apps, headers, allow_empty=allow_empty)
                for apps in groups
            ]
        return tuple(configured)


@dataclass(frozen=True)
class ConfiguredSource:
    """A vendor source with its deployment's settings applied."""

    source: VendorSource
    tables: tuple[TableSpec, ...]
    """The source's specs with their configured file patterns."""
    arrival_cron: str
    partitions_def: dg.PartitionsDefinition
    app_ids: tuple[str, ...]
    column_sources: Mapping[str, Mapping[str, str]]
    """Per app: documented column -> the header it has in that app's files."""
    loader: LoaderSettings
    backfill_partitions_per_run: int = 31
    """A backfill's runs each load at most this many partitions, in order."""
    owners: tuple[str, ...] = ()
    """Who answers for the source's assets (``<NAME>_OWNERS``; default ``team:<name>``)."""
    deliveries: tuple[ConfiguredDelivery, ...] = ()

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def asset_keys(self) -> list[dg.AssetKey]:
        return [t.asset_key for t in self.tables]
