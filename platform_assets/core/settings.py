"""The configuration contract: every environment variable the platform reads, read here only,
and only when the definitions load (:meth:`Settings.from_env`), never at import.

Secrets and connection settings are bound as ``dg.EnvVar`` (resolved at run time, never shown in
the UI, logs or metadata); a required one that is unset fails the run with Dagster's message
naming the variable. Optional ones (password *or* key, passphrase, port) are bound as
``dg.EnvVar`` when present when the definitions load, and fall back to their defaults otherwise.
Layout settings (file patterns, app ids, per-app column names, the first partition) shape the
definitions themselves, so they are read and checked when the definitions load.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import dagster as dg

from platform_assets.core import lake
from platform_assets.core.errors import SettingsError
from platform_assets.core.execution import ExecutionSettings
from platform_assets.core.pii_key import pii_key
from platform_assets.core.specs import APP_ID
from platform_assets.core.transport.sftp import SFTPResource
from platform_assets.core.transport.upload import SFTPDeliveryResource
from platform_assets.core.warehouse import (
    MAX_INFLATED_BYTES,
    MAX_LINE_BYTES,
    STAGING_MEMORY_LIMIT,
    LoaderSettings,
)
from platform_assets.core.warehouse_resource import WarehouseResource

DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"
DEFAULT_START_DATE = "2024-01-01"
DEFAULT_RAW_ARCHIVE_DIR = "data/raw"
ASAPP_HASHES = ("none", "md5", "sha256")
RELATION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
"""A configured relation: ``schema.table`` (a dbt model or a table), nothing else."""
OWNER = re.compile(r"team:[A-Za-z0-9_-]+|[^@\s,]+@[^@\s,]+\.[^@\s,]+")


LOYALTY_RELATIONS = {
    "members": "loyalty.members",
    "actions": "loyalty.actions",
    "converters": "deliveries.sms_converters",
}
"""The loyalty program's relations (``LOYALTY_<NAME>_RELATION``) and their defaults."""


@dataclass(frozen=True)
class LoyaltySettings:
    """Document 001's loyalty program, as configured (``LOYALTY_*``)."""

    members: str
    """Members: member_id, phone, email, sms_opt_in."""
    actions: str
    """Loyalty actions: action_id, member_id, action_type, action_time, message_text."""
    converters: str
    """SMS converters: delivery_date, email (the segment's rows)."""
    cron: str
    phone_region: str
    message_lookback_hours: int
    export_dir: str
    eligibility_ttl_hours: int = 24
    """How long a member's TEXT eligibility answer is reused before Attentive is asked again."""


@dataclass(frozen=True)
class SourceSettings:
    """One vendor source's layout settings (``<PREFIX>_*``)."""

    file_patterns: Mapping[str, str] = field(default_factory=dict)
    """Table name -> the file pattern set in ``<PREFIX>_<TABLE>_FILE_PATTERN``."""
    app_ids: tuple[str, ...] = ()
    """``<PREFIX>_APP_IDS``: the app partition dimension of vendors with one file per app."""
    column_names_by_app: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """App -> documented column -> its header in that app's files (``<PREFIX>_<COL>_COLUMNS``)."""
    arrival_cron: str | None = None
    """``<PREFIX>_ARRIVAL_CRON``: when a day's files are due, in the vendor's time zone."""
    owners: tuple[str, ...] = ()
    """``<PREFIX>_OWNERS``: who answers for the source's assets (emails or ``team:<name>``)."""


@dataclass(frozen=True)
class Settings:
    """Everything read from the environment, once, when the definitions load."""

    env: Mapping[str, str]
    duckdb_path: str
    start_date: str
    loader: LoaderSettings
    asapp_customer_id_hash: str = "none"
    """How ASAPP's customer ids hash the brand's client ids: none, md5 or sha256."""
    backfill_partitions_per_run: int = 31
    """``PLATFORM_BACKFILL_PARTITIONS_PER_RUN``: the most partitions one backfill run loads."""
    sensor_interval_seconds: int = 300
    """``PLATFORM_SENSOR_INTERVAL_SECONDS``: how often the new-file sensors list the servers."""
    warehouse_backend: str = "duckdb"
    """``PLATFORM_WAREHOUSE``: ``duckdb`` (the file) or ``ducklake``."""
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    """``PLATFORM_EXECUTOR`` and the Celery workers' settings (:mod:`.execution`)."""
    dbt_server: str | None = None
    """``PLATFORM_DBT_SERVER``: a warm dbt's socket (:mod:`platform_assets.models.dbt_server`)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``env`` (default: a copy of the process environment, as it is now).
        Every variable read is one of :data:`~platform_assets.core.variables.VARIABLES`."""
        env = dict(os.environ) if env is None else env
        start = env.get("PLATFORM_START_DATE") or DEFAULT_START_DATE
        try:
            dt.date.fromisoformat(start)
        except ValueError:
            raise SettingsError(
                f"PLATFORM_START_DATE must be a date as YYYY-MM-DD, got {start!r}"
            ) from None
        loader = LoaderSettings(
            memory_limit=env.get("PLATFORM_STAGING_MEMORY_LIMIT") or STAGING_MEMORY_LIMIT,
            threads=_int(env, "PLATFORM_STAGING_THREADS", 0),
            work_dir=env.get("PLATFORM_WORK_DIR") or None,
            max_inflated_bytes=_int(env, "PLATFORM_MAX_INFLATED_BYTES", MAX_INFLATED_BYTES),
            max_line_bytes=_int(env, "PLATFORM_MAX_LINE_BYTES", MAX_LINE_BYTES),
            archive_dir=env.get("RAW_ARCHIVE_DIR") or DEFAULT_RAW_ARCHIVE_DIR,
            parallel_downloads=_int(env, "PLATFORM_PARALLEL_DOWNLOADS", 2),
            volume_window=_int(env, "PLATFORM_VOLUME_WINDOW", 7),
            volume_min_ratio=_ratio(env, "PLATFORM_VOLUME_MIN_RATIO", 0.5),
            pool_per_table=_backend(env) == "ducklake",
        )
        asapp_hash = (env.get("ASAPP_CUSTOMER_ID_HASH") or "none").lower()
        if asapp_hash not in ASAPP_HASHES:
            raise SettingsError(
                f"ASAPP_CUSTOMER_ID_HASH must be one of {ASAPP_HASHES}, got {asapp_hash!r}"
            )
        return cls(
            env=env,
            duckdb_path=env.get("DUCKDB_PATH") or DEFAULT_DUCKDB_PATH,
            start_date=start,
            loader=loader,
            asapp_customer_id_hash=asapp_hash,
            backfill_partitions_per_run=max(
                1, _int(env, "PLATFORM_BACKFILL_PARTITIONS_PER_RUN", 31)
            ),
            sensor_interval_seconds=max(5, _int(env, "PLATFORM_SENSOR_INTERVAL_SECONDS", 300)),
            warehouse_backend=_backend(env),
            execution=ExecutionSettings.from_env(env),
            dbt_server=env.get("PLATFORM_DBT_SERVER") or None,
        )

    # -- per source -------------------------------------------------------------------------

    def source(
        self,
        prefix: str,
        tables: Sequence[str],
        per_app_columns: Sequence[str] = (),
        *,
        has_apps: bool = False,
    ) -> SourceSettings:
        """The layout settings of the source whose variables start with ``prefix`` (app ids only
        for a source with one file per app)."""
        patterns = {
            t: self.env[f"{prefix}_{t.upper()}_FILE_PATTERN"]
            for t in tables
            if self.env.get(f"{prefix}_{t.upper()}_FILE_PATTERN")
        }
        by_app: dict[str, dict[str, str]] = {}
        for column in per_app_columns:
            for app, header in self._column_names(prefix, column).items():
                by_app.setdefault(app, {})[column] = header
        arrival = self.env.get(f"{prefix}_ARRIVAL_CRON") or None
        if arrival is not None:
            _check_cron(f"{prefix}_ARRIVAL_CRON", arrival)
        owners = self.owners(f"{prefix}_OWNERS")
        apps = self._app_ids(prefix) if has_apps else ()
        return SourceSettings(patterns, apps, by_app, arrival, owners)

    def owners(self, variable: str) -> tuple[str, ...]:
        """Owners from ``variable`` (comma-separated emails or ``team:<name>``), checked."""
        owners = tuple(o.strip() for o in self.env.get(variable, "").split(",") if o.strip())
        bad = [o for o in owners if not OWNER.fullmatch(o)]
        if bad:
            raise SettingsError(f"{variable}: {bad} are not owners (an email or team:<name>)")
        return owners

    def _app_ids(self, prefix: str) -> tuple[str, ...]:
        """``<prefix>_APP_IDS`` (comma-separated), checked: an app id stands in remote file
        names, so only letters, digits and ``-`` are accepted."""
        raw = self.env.get(f"{prefix}_APP_IDS", "")
        ids = [a.strip() for a in raw.split(",") if a.strip()]
        bad = [a for a in ids if not APP_ID.match(a)]
        if bad:
            raise SettingsError(f"{prefix}_APP_IDS: {bad} are not app ids (letters, digits, '-')")
        return tuple(dict.fromkeys(ids))

    def _column_names(self, prefix: str, column: str) -> dict[str, str]:
        """``<prefix>_<COLUMN>_COLUMNS`` (``app=header,...``), e.g.
        ``ACCENGAGE_MEMBER_ID_COLUMNS="6=member_id,7=customer_ref"``."""
        variable = f"{prefix}_{column.upper()}_COLUMNS"
        result: dict[str, str] = {}
        for item in filter(None, (i.strip() for i in self.env.get(variable, "").split(","))):
            app, sep, header = (p.strip() for p in item.partition("="))
            if not sep or not APP_ID.match(app) or not header:
                raise SettingsError(f"{variable}: {item!r} is not app=header")
            result[app] = header
        return result

    def pii_key(self) -> bytes:
        """``PLATFORM_PII_KEY`` (:func:`platform_assets.core.pii_key.pii_key`'s rule)."""
        return pii_key(self.env)

    # -- resources --------------------------------------------------------------------------

    def seconds(self, name: str, default: float) -> float:
        """A time-out or interval in seconds (``name``, a positive number), else ``default``."""
        return _seconds(self.env, name, default)

    def rates(self, name: str, defaults: Mapping[str, int]) -> dict[str, int]:
        """Requests per second per endpoint: ``defaults``, overridden by ``name``
        (``endpoint=N,...``, e.g. ``ATTENTIVE_API_RATE_LIMITS=messages=50``)."""
        rates = dict(defaults)
        for item in filter(None, (p.strip() for p in (self.env.get(name) or "").split(","))):
            endpoint, _, value = item.partition("=")
            if endpoint.strip() not in defaults or not value.strip().isdigit() or int(value) < 1:
                raise SettingsError(
                    f"{name}: {item!r} is not endpoint=requests per second (endpoints: "
                    f"{', '.join(defaults)}; a whole number of at least 1)"
                )
            rates[endpoint.strip()] = int(value)
        return rates

    def optional(self, name: str) -> dg.EnvVar | None:
        """``name`` as a ``dg.EnvVar`` where it is set (read when the resource is used)."""
        return dg.EnvVar(name) if self.env.get(name) else None

    def sftp(self, prefix: str) -> SFTPResource:
        """The SFTP resource of one vendor source from ``<prefix>_SFTP_*`` variables."""
        port = dg.EnvVar.int(f"{prefix}_SFTP_PORT") if self.env.get(f"{prefix}_SFTP_PORT") else 22
        return SFTPResource(
            host=dg.EnvVar(f"{prefix}_SFTP_HOST"),
            port=port,
            username=dg.EnvVar(f"{prefix}_SFTP_USERNAME"),
            password=self.optional(f"{prefix}_SFTP_PASSWORD"),
            private_key_path=self.optional(f"{prefix}_SFTP_PRIVATE_KEY_PATH"),
            private_key_passphrase=self.optional(f"{prefix}_SFTP_PRIVATE_KEY_PASSPHRASE"),
            known_hosts=self.optional(f"{prefix}_SFTP_KNOWN_HOSTS"),
            host_key_policy=self.env.get(f"{prefix}_SFTP_HOST_KEY_POLICY", "strict"),  # type: ignore[arg-type]  # pydantic validates the literal
            remote_dir=self.optional(f"{prefix}_SFTP_REMOTE_DIR") or ".",
            env_prefix=prefix,
        )

    def delivery_sftp(self, prefix: str, folder: str) -> SFTPDeliveryResource:
        """The account the brand *writes* with (``<prefix>_DELIVERY_SFTP_*``): its own username
        and password or key, never the read-only ingestion account's; the server (host, port,
        known_hosts, host-key policy) is the source's unless set; the folder is ``folder`` (the
        documented one, e.g. ASAPP's ``in``) unless ``<prefix>_DELIVERY_SFTP_REMOTE_DIR``."""
        own = f"{prefix}_DELIVERY_SFTP"

        def var(name: str) -> str:
            return f"{own}_{name}" if self.env.get(f"{own}_{name}") else f"{prefix}_SFTP_{name}"

        port = dg.EnvVar.int(var("PORT")) if self.env.get(var("PORT")) else 22
        return SFTPDeliveryResource(
            host=dg.EnvVar(var("HOST")),
            port=port,
            username=dg.EnvVar(f"{own}_USERNAME"),
            password=self.optional(f"{own}_PASSWORD"),
            private_key_path=self.optional(f"{own}_PRIVATE_KEY_PATH"),
            private_key_passphrase=self.optional(f"{own}_PRIVATE_KEY_PASSPHRASE"),
            known_hosts=self.optional(var("KNOWN_HOSTS")),
            host_key_policy=self.env.get(var("HOST_KEY_POLICY"), "strict"),  # type: ignore[arg-type]  # pydantic validates the literal
            remote_dir=self.optional(f"{own}_REMOTE_DIR") or folder,
            env_prefix=f"{prefix}_DELIVERY",
        )

    def delivers(self, prefix: str) -> bool:
        """Whether the brand sends this vendor files: its delivery account is configured
        (``<prefix>_DELIVERY_SFTP_USERNAME``); without one, the vendor's deliveries are not
        defined (no run can fail for a missing account)."""
        return bool(self.env.get(f"{prefix}_DELIVERY_SFTP_USERNAME"))

    def flag(self, name: str) -> bool:
        """A yes/no setting: ``true`` or ``false`` (unset: false)."""
        raw = (self.env.get(name) or "false").strip().lower()
        if raw not in ("true", "false"):
            raise SettingsError(f"{name} must be true or false, got {raw!r}")
        return raw == "true"

    def relation(self, setting: str, default: str | None) -> str | None:
        """The relation a delivery or the loyalty program reads (``setting``, e.g.
        ``ASAPP_TRANSACTIONS_RELATION``, as ``schema.table``), else its default; checked, for it
        stands in SQL."""
        value = self.env.get(setting) or default
        if value is not None and not RELATION.fullmatch(value):
            raise SettingsError(f"{setting} must name a relation as schema.table, got {value!r}")
        return value

    def loyalty(self) -> LoyaltySettings | None:
        """The loyalty program's settings (document 001), or None where ``ATTENTIVE_API_TOKEN``
        is unset (then nothing of it is defined)."""
        if not self.env.get("ATTENTIVE_API_TOKEN"):
            return None
        cron = _check_cron("LOYALTY_CRON", self.env.get("LOYALTY_CRON") or "*/30 * * * *")
        relation = {
            name: self.relation(f"LOYALTY_{name.upper()}_RELATION", default)
            for name, default in LOYALTY_RELATIONS.items()
        }
        return LoyaltySettings(
            members=relation["members"] or LOYALTY_RELATIONS["members"],
            actions=relation["actions"] or LOYALTY_RELATIONS["actions"],
            converters=relation["converters"] or LOYALTY_RELATIONS["converters"],
            cron=cron,
            phone_region=(self.env.get("LOYALTY_PHONE_REGION") or "US").upper(),
            message_lookback_hours=_int(self.env, "LOYALTY_MESSAGE_LOOKBACK_HOURS", 48),
            eligibility_ttl_hours=_int(self.env, "LOYALTY_ELIGIBILITY_TTL_HOURS", 24),
            export_dir=self.env.get("LOYALTY_EXPORT_DIR") or "data/exports",
        )

    def warehouse(self) -> WarehouseResource:
        """The warehouse: the DuckDB file (``DUCKDB_PATH``, default ``data/warehouse.duckdb``),
        or with ``PLATFORM_WAREHOUSE=ducklake`` the lake (``PLATFORM_LAKE_*``; the catalog's
        password a ``dg.EnvVar``)."""
        database: str | dg.EnvVar = (
            dg.EnvVar("DUCKDB_PATH") if self.env.get("DUCKDB_PATH") else DEFAULT_DUCKDB_PATH
        )
        if self.warehouse_backend != "ducklake":
            return WarehouseResource(database=database)
        missing = [v for v in lake.REQUIRED if not self.env.get(v)]
        if missing:
            raise SettingsError(f"PLATFORM_WAREHOUSE=ducklake needs {', '.join(missing)}")
        try:
            lake.absolute_data_path(self.env[lake.DATA_PATH])
        except lake.LakeUnavailable as exc:
            raise SettingsError(str(exc)) from None
        return WarehouseResource(
            database=database,
            backend="ducklake",
            lake_host=dg.EnvVar(lake.CATALOG_HOST),
            lake_port=_int(self.env, lake.CATALOG_PORT, 5432),
            lake_database=dg.EnvVar(lake.CATALOG_DB),
            lake_user=dg.EnvVar(lake.CATALOG_USER),
            lake_password=dg.EnvVar(lake.CATALOG_PASSWORD),
            lake_data_path=dg.EnvVar(lake.DATA_PATH),
        )


WAREHOUSE_BACKENDS = ("duckdb", "ducklake")


def _backend(env: Mapping[str, str]) -> str:
    backend = (env.get("PLATFORM_WAREHOUSE") or "duckdb").lower()
    if backend not in WAREHOUSE_BACKENDS:
        raise SettingsError(
            f"PLATFORM_WAREHOUSE must be one of {WAREHOUSE_BACKENDS}, got {backend!r}"
        )
    return backend


def _check_cron(variable: str, cron: str) -> str:
    """``cron`` if Dagster takes it as a schedule's cron string; else an error naming
    ``variable`` (Dagster's own check: a definition error, nothing else is caught)."""
    try:
        dg.ScheduleDefinition(name="cron_check", cron_schedule=cron, target=dg.AssetSelection.all())
    except dg.DagsterInvalidDefinitionError:
        raise SettingsError(f"{variable}: {cron!r} is not a cron expression") from None
    return cron


N = TypeVar("N", int, float)


def _number(
    env: Mapping[str, str],
    name: str,
    default: N,
    parse: Callable[[str], N],
    valid: Callable[[N], bool],
    kind: str,
    rule: str,
) -> N:
    """``name`` parsed, or ``default`` where unset; a value that does not parse says it must be
    ``kind``, one that breaks ``valid`` says ``rule``."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None
    if not valid(value):
        raise SettingsError(f"{name} {rule}, got {raw!r}")
    return value


def _ratio(env: Mapping[str, str], name: str, default: float) -> float:
    kind = "a number between 0 and 1"
    return _number(env, name, default, float, lambda v: 0 <= v <= 1, kind, f"must be {kind}")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(
        env, name, default, float, lambda v: v > 0, "a number of seconds",
        "must be more than 0 seconds",
    )  # fmt: skip


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(
        env, name, default, int, lambda v: v >= 0, "a whole number", "must not be negative"
    )
