"""Every environment variable the platform reads: the configuration contract, stated once.

:class:`~platform_assets.core.settings.Settings` reads these (and only these, a unit test records
what it reads); ``make docs`` renders them as the table of ``docs/configuration.md``. In a name,
``V`` stands for each vendor source's prefix (``ATTENTIVE``, ``POSTSCRIPT``, ``ASAPP``,
``ACCENGAGE``) and ``<TABLE>``, ``<DELIVERY>``, ``<COLUMN>`` for a spec's name in capitals.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

VENDOR_PREFIX = "V"
"""The placeholder of a vendor source's prefix in a variable's name."""


@dataclass(frozen=True)
class Variable:
    """One documented setting (or a few that go together): names, meaning, default."""

    names: tuple[str, ...]
    meaning: str
    default: str = ""
    """The default as the docs show it (markdown); empty: none."""

    def pattern(self, prefixes: tuple[str, ...]) -> re.Pattern[str]:
        """A regular expression matching every concrete name of this variable."""
        vendor = "(?:" + "|".join(map(re.escape, prefixes)) + ")"
        alternatives = []
        for name in self.names:
            escaped = re.sub(r"<[A-Z]+>", "[A-Z0-9_]+", re.escape(name))  # <TABLE>: any name
            if name.startswith(VENDOR_PREFIX + "_"):
                escaped = vendor + escaped[1:]
            alternatives.append(escaped)
        return re.compile("|".join(alternatives))


VARIABLES: tuple[Variable, ...] = (
    Variable(
        ("DUCKDB_PATH",),
        "the DuckDB warehouse file",
        "`data/warehouse.duckdb`",
    ),
    Variable(
        ("PLATFORM_WAREHOUSE",),
        (
            "`duckdb` (the DuckDB file `DUCKDB_PATH`: one writer at a time) or `ducklake` (a "
            "DuckLake: catalog in PostgreSQL, Parquet files under `PLATFORM_LAKE_DATA_PATH`; a "
            "writer per table; needs the `lake` extra)"
        ),
        "`duckdb`",
    ),
    Variable(
        (
            "PLATFORM_LAKE_CATALOG_HOST",
            "PLATFORM_LAKE_CATALOG_PORT",
            "PLATFORM_LAKE_CATALOG_DB",
            "PLATFORM_LAKE_CATALOG_USER",
            "PLATFORM_LAKE_CATALOG_PASSWORD",
        ),
        "the lake's PostgreSQL catalog (required with `ducklake`; the password a secret)",
        "port `5432`",
    ),
    Variable(
        ("PLATFORM_LAKE_DATA_PATH",),
        (
            "where the lake's Parquet files go: an absolute folder every worker sees (or "
            "`s3://...` with DuckDB's S3 settings); required with `ducklake`"
        ),
        "",
    ),
    Variable(
        ("PLATFORM_EXECUTOR",),
        (
            "where a run's steps execute: `in_process` (the run's own process), `multiprocess` "
            "(a process per step, steps of different tables at once on a lake) or `celery` "
            "(Celery workers: `make workers`; needs the `scale` extra)"
        ),
        "`in_process`",
    ),
    Variable(
        ("PLATFORM_CELERY_BROKER", "PLATFORM_CELERY_BACKEND"),
        (
            "the Celery broker and result backend of `celery` runs and of `make workers`, e.g. "
            "`redis://:password@host:6379/0` (read through `dg.EnvVar`: the password stays in "
            "the environment); the backend defaults to the broker"
        ),
        "",
    ),
    Variable(
        ("PLATFORM_CELERY_VISIBILITY_TIMEOUT",),
        (
            "seconds after which Redis hands the step of a worker that died to another worker: "
            "longer than the longest step (a step still running then would run twice)"
        ),
        "`7200`",
    ),
    Variable(
        ("PLATFORM_START_DATE",),
        "first daily partition, `YYYY-MM-DD`",
        "`2024-01-01`",
    ),
    Variable(
        ("V_SFTP_HOST",),
        "SFTP server host (required)",
        "",
    ),
    Variable(
        ("V_SFTP_PORT",),
        "SFTP server port",
        "`22`",
    ),
    Variable(
        ("V_SFTP_USERNAME",),
        "login (required)",
        "",
    ),
    Variable(
        ("V_SFTP_PASSWORD",),
        "password — or a private key:",
        "",
    ),
    Variable(
        ("V_SFTP_PRIVATE_KEY_PATH",),
        "private key file: ed25519, ECDSA or RSA (rsa-sha2), OpenSSH or PEM",
        "",
    ),
    Variable(
        ("V_SFTP_PRIVATE_KEY_PASSPHRASE",),
        "passphrase of an encrypted key",
        "",
    ),
    Variable(
        ("V_SFTP_KNOWN_HOSTS",),
        "known_hosts file holding the server's host key (required)",
        "",
    ),
    Variable(
        ("V_SFTP_REMOTE_DIR",),
        "folder holding the vendor's files",
        "`.` (login folder)",
    ),
    Variable(
        ("V_SFTP_HOST_KEY_POLICY",),
        "`strict`, or `trust_on_first_use` (**development only**)",
        "`strict`",
    ),
    Variable(
        ("PLATFORM_STAGING_MEMORY_LIMIT",),
        (
            "memory limit of a load's DuckDB (its parse buffers, staging tables and the write "
            "into the warehouse; spills to `PLATFORM_WORK_DIR` past it): a 1 GB file loads in "
            "~750 MB of RSS"
        ),
        "`512MB`",
    ),
    Variable(
        ("PLATFORM_STAGING_THREADS",),
        "threads of the loader's DuckDB",
        "all cores",
    ),
    Variable(
        ("PLATFORM_WORK_DIR",),
        "where downloads and spill files go while a partition loads",
        "system temp",
    ),
    Variable(
        ("PLATFORM_MAX_INFLATED_BYTES",),
        "a `.gz` file that inflates past this many bytes is refused",
        "20 GiB",
    ),
    Variable(
        ("PLATFORM_MAX_LINE_BYTES",),
        (
            "the longest record (a field with its row) the parser accepts; a longer one fails "
            "the file naming its line and this setting"
        ),
        "16 MiB",
    ),
    Variable(
        ("RAW_ARCHIVE_DIR",),
        "the raw archive of every downloaded file",
        "`data/raw`",
    ),
    Variable(
        ("V_ARRIVAL_CRON",),
        (
            "when a vendor's day is due, in its time zone: the file of day D is due at the "
            "first tick on day D+1 (the `file_arrival` check and sensor); a table not loaded in"
            " the 24 hours before it is overdue (Dagster freshness)"
        ),
        "Accengage `0 5 * * *` (GMT+1; exports 01:00–04:00), others `0 6 * * *` UTC",
    ),
    Variable(
        ("V_OWNERS",),
        "who answers for a vendor's assets in the UI: comma-separated emails or `team:<name>`",
        "`team:<vendor>`",
    ),
    Variable(
        ("PLATFORM_MODELS_OWNERS",),
        "the same, for the dbt models",
        "`team:data`",
    ),
    Variable(
        ("PLATFORM_SENSOR_INTERVAL_SECONDS",),
        "how often the new-file sensors list the vendors' folders (at least 5)",
        "`300`",
    ),
    Variable(
        ("PLATFORM_BACKFILL_PARTITIONS_PER_RUN",),
        "the most partitions (days; for Accengage, days of one app) one backfill run loads",
        "`31`",
    ),
    Variable(
        ("PLATFORM_PARALLEL_DOWNLOADS",),
        (
            "files a range run (a backfill) downloads at once, each on its own SFTP connection, "
            "ahead of the day it loads (0 or 1: one)"
        ),
        "`2`",
    ),
    Variable(
        ("PLATFORM_VOLUME_WINDOW", "PLATFORM_VOLUME_MIN_RATIO"),
        (
            "the `file_volume` check: previous loaded days averaged, and the share of that "
            "average below which a day warns"
        ),
        "`7`, `0.5`",
    ),
    Variable(
        ("V_<TABLE>_FILE_PATTERN",),
        (
            "a table's remote file name, with `{YYYYMMDD}` (and `{APP_ID}` for Accengage), e.g."
            " `POSTSCRIPT_DIM_SHOPS_FILE_PATTERN=shops_{YYYYMMDD}.csv`"
        ),
        "the documented name",
    ),
    Variable(
        ("ACCENGAGE_APP_IDS",),
        (
            "the brand's Accengage app ids, comma-separated (letters, digits, `-`); the `app` "
            "partition dimension"
        ),
        "none (no partitions)",
    ),
    Variable(
        ("ACCENGAGE_MEMBER_ID_COLUMNS",),
        (
            "per app, the header of the client-id column (`[member_id]` in the document), e.g. "
            "`6=member_id,7=customer_ref`"
        ),
        "`member_id`",
    ),
    Variable(
        ("PLATFORM_PII_KEY",),
        (
            "the secret (16+ characters) of the keyed hash that hides phones, emails and client"
            " ids in the marts; required by the dbt runs (`make demo` generates one in "
            "`data/demo/pii_key`)"
        ),
        "",
    ),
    Variable(
        ("PLATFORM_DBT_SERVER",),
        (
            "the Unix socket of a warm dbt (`python -m platform_assets.models.dbt_server <socket>`"
            ": dbt imported once, each command run in a fork of it, ~2 s less per dbt run); the"
            " models then run dbt through it (`make demo` and `make dev` start one)"
        ),
        "none: a new `dbt` process per run",
    ),
    Variable(
        ("V_DELIVERY_SFTP_USERNAME",),
        (
            "the account the brand *uploads* with (ASAPP, Accengage); set, it defines the "
            "vendor's deliveries"
        ),
        "none (no deliveries)",
    ),
    Variable(
        (
            "V_DELIVERY_SFTP_PASSWORD",
            "V_DELIVERY_SFTP_PRIVATE_KEY_PATH",
            "V_DELIVERY_SFTP_PRIVATE_KEY_PASSPHRASE",
        ),
        "its secret (never the ingestion account's)",
        "",
    ),
    Variable(
        (
            "V_DELIVERY_SFTP_HOST",
            "V_DELIVERY_SFTP_PORT",
            "V_DELIVERY_SFTP_KNOWN_HOSTS",
            "V_DELIVERY_SFTP_HOST_KEY_POLICY",
        ),
        "its server",
        "the source's `V_SFTP_*`",
    ),
    Variable(
        ("V_DELIVERY_SFTP_REMOTE_DIR",),
        "where deliveries go",
        "ASAPP `in`, Accengage `.`",
    ),
    Variable(
        ("V_ALLOW_EMPTY_STATIC_LISTS",),
        (
            "`true`: a day without rows uploads an empty static list, which *empties that list* "
            "at Accengage (static lists are truncate-insert); otherwise nothing is sent that day"
        ),
        "`false`",
    ),
    Variable(
        ("V_<DELIVERY>_RELATION",),
        (
            "the relation (`schema.table`) a delivery reads, e.g. "
            "`ASAPP_CALL_METADATA_RELATION=brand.calls`"
        ),
        "see [Deliveries](deliveries.md)",
    ),
    Variable(
        ("ATTENTIVE_API_TOKEN",),
        "the Attentive app's bearer token; set, it defines the loyalty program",
        "none (no loyalty assets)",
    ),
    Variable(
        ("ATTENTIVE_MESSAGES_API_TOKEN", "ATTENTIVE_SIGN_UP_SOURCE_ID", "ATTENTIVE_API_URL"),
        "the legacy messages token, the sign-up flow's id, the API's address",
        "URL `https://api.attentivemobile.com`",
    ),
    Variable(
        ("ANNEX_CLOUD_SITE_ID", "ANNEX_CLOUD_LOYALTY_TOKEN", "ANNEX_CLOUD_API_URL"),
        "Annex Cloud's site, loyalty token and address",
        "URL `https://s15.socialannex.net`",
    ),
    Variable(
        ("ATTENTIVE_API_READ_TIMEOUT_SECONDS", "ANNEX_CLOUD_API_READ_TIMEOUT_SECONDS"),
        "how long a call waits for its answer before it is in doubt (never re-sent silently)",
        "`30`",
    ),
    Variable(
        ("ATTENTIVE_API_RATE_LIMITS", "ANNEX_CLOUD_API_RATE_LIMITS"),
        (
            "client-side requests per second per endpoint, `endpoint=N,...` (Attentive: "
            "`subscriptions` (subscribe and eligibility), `unsubscribe`, `messages`; Annex Cloud: "
            "`segment`)"
        ),
        "Attentive's published `subscriptions=10,unsubscribe=5,messages=150`; Annex Cloud "
        "(none published) `segment=2`",
    ),
    Variable(
        ("LOYALTY_ELIGIBILITY_TTL_HOURS",),
        "how long a member's TEXT eligibility answer is reused before Attentive is asked again",
        "`24`",
    ),
    Variable(
        (
            "LOYALTY_CRON",
            "LOYALTY_MESSAGE_LOOKBACK_HOURS",
            "LOYALTY_PHONE_REGION",
            "LOYALTY_EXPORT_DIR",
        ),
        (
            "the trigger (UTC), how far back actions are sent, the region of numbers without a "
            "country code, where segment CSVs go"
        ),
        "`*/30 * * * *`, `48`, `US`, `data/exports`",
    ),
    Variable(
        ("LOYALTY_MEMBERS_RELATION", "LOYALTY_ACTIONS_RELATION", "LOYALTY_CONVERTERS_RELATION"),
        "the program's input relations",
        "`loyalty.members`, `loyalty.actions`, `deliveries.sms_converters`",
    ),
    Variable(
        ("ASAPP_CUSTOMER_ID_HASH",),
        (
            "how ASAPP's customer ids hash the brand's client ids: `none`, `md5` or `sha256` "
            "(identity linking)"
        ),
        "`none`",
    ),
)


def documented(env: Mapping[str, str], prefixes: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """The variables of ``env`` that :data:`VARIABLES` documents (all that the settings read),
    for vendor sources with ``prefixes``: what the definitions of ``env`` depend on."""
    named = _documented_names(prefixes)
    return frozenset((k, v) for k, v in env.items() if named.fullmatch(k))


@functools.cache
def _documented_names(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{v.pattern(prefixes).pattern})" for v in VARIABLES))
