"""The embedded default: ``python -m platform_assets.demo run|dev``.

``run`` (``make demo``) generates sample files of every vendor (Attentive, Postscript, ASAPP,
Accengage with two apps) for the last N days, serves them from an embedded SFTP server on
127.0.0.1 (one folder per vendor), materializes every partition of every table into the DuckDB
file (``DUCKDB_PATH``, default ``data/warehouse.duckdb``) and prints a per-table summary.
``dev`` (``make dev``) does the same set-up and then runs Dagster's webserver and daemon (as
``dg dev`` would, with backfills looked at every 2 s: demo/daemon.py) against that server.
Both keep Dagster's run history in ``data/dagster_home`` so the UI shows the demo's runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg

from platform_assets.compose import bound_variables, build_definitions
from platform_assets.core.environ import environment
from platform_assets.core.partitions import partition_key_for
from platform_assets.core.settings import Settings
from platform_assets.core.sources import VendorSource
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.demo import report
from platform_assets.demo.api_server import ApiServer
from platform_assets.demo.brand_samples import RELATIONS as CONTACT_CENTER_RELATIONS
from platform_assets.demo.brand_samples import write_contact_center
from platform_assets.demo.console import Console, StageFailed, check
from platform_assets.demo.loyalty_samples import start_api, write_loyalty
from platform_assets.demo.serve import serve
from platform_assets.demo.server import EmbeddedSFTPServer
from platform_assets.models import dbt_server

SHIPPED_INSTANCE = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.yaml"
"""The instance config that ships with the code (writer pool 1, run queue, monitoring, retries)."""


def _prepare(
    data_dir: Path, days: int, rows: int, today: dt.date
) -> tuple[EmbeddedSFTPServer, ApiServer, list[dt.date], dict[str, str]]:
    """The demo's files, its SFTP and API servers, and its settings: the process environment
    overlaid with the servers' addresses and accounts (the data locations, start date, PII key
    and relations only where the environment does not set them)."""
    import shutil

    from platform_assets.demo import people
    from platform_assets.demo.samples import write_attentive_day
    from platform_assets.demo.vendor_samples import DEMO_APPS, write_vendor_day

    dates = [today - dt.timedelta(days=n) for n in range(days, 0, -1)]
    sftp_root = data_dir / "demo" / "sftp"
    shutil.rmtree(sftp_root, ignore_errors=True)
    for day in dates:
        write_attentive_day(
            sftp_root / "attentive",
            day,
            conversions=max(rows // 250, 1),  # about 2 orders per 100 messages sent
            notifications=rows,
            people=people.PEOPLE,
            regulars=people.REGULARS,
        )
        write_vendor_day(sftp_root, day, today, rows=max(rows // 20, 10))
    _arrived_on_time(sftp_root, dates)
    server = EmbeddedSFTPServer(root=sftp_root, known_hosts=data_dir / "demo" / "known_hosts")
    server.start()
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIPPED_INSTANCE, home / "dagster.yaml")
    key_file = data_dir / "demo" / "pii_key"  # a demo-only key, kept so customer keys stay put
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    proposed = {  # the user's environment wins
        "DUCKDB_PATH": str(data_dir / "warehouse.duckdb"),
        "RAW_ARCHIVE_DIR": str(data_dir / "raw"),
        # the partitions start at the first file day: no "missing" days no file could fill
        "PLATFORM_START_DATE": dates[0].isoformat(),
        "PLATFORM_PII_KEY": key_file.read_text().strip(),
        "LOYALTY_EXPORT_DIR": str(data_dir / "exports"),
        **CONTACT_CENTER_RELATIONS,
    }
    demo: dict[str, str] = {
        "DAGSTER_HOME": str(home.resolve()),
        "ACCENGAGE_APP_IDS": ",".join(DEMO_APPS),
        "ACCENGAGE_MEMBER_ID_COLUMNS": ",".join(f"{a}={h}" for a, h in DEMO_APPS.items()),
        "ASAPP_CUSTOMER_ID_HASH": "md5",  # the demo's ASAPP ids are md5(client id)
    }
    for source in VENDOR_SOURCES:
        demo.update(server.env(source.prefix))
        demo[f"{source.prefix}_SFTP_REMOTE_DIR"] = "/" + "/".join(
            filter(None, (source.name, source.documented_folder))
        )
        if source.deliveries:  # the brand's deliveries go to the same embedded server
            folder = "/" + "/".join(filter(None, (source.name, source.delivery_folder.strip("."))))
            (sftp_root / folder.lstrip("/")).mkdir(parents=True, exist_ok=True)
            demo[f"{source.prefix}_DELIVERY_SFTP_USERNAME"] = server.username
            demo[f"{source.prefix}_DELIVERY_SFTP_PASSWORD"] = server.password
            demo[f"{source.prefix}_DELIVERY_SFTP_REMOTE_DIR"] = folder
    # the loyalty program (document 001): a stand-in for Attentive's and Annex Cloud's APIs
    # (local; nothing leaves the machine)
    api, api_env = start_api()
    env = {**proposed, **os.environ, **demo, **api_env}
    # the loyalty program's tables, and the brand's own contact-center records (the rows of
    # ASAPP's call-metadata and transcript feeds: a brand names its tables in the settings)
    write_loyalty(env["DUCKDB_PATH"], dt.datetime.now(dt.UTC).replace(tzinfo=None))
    write_contact_center(env["DUCKDB_PATH"], dates)
    return server, api, dates, env


@contextlib.contextmanager
def _run_environment(env: dict[str, str], defs: dg.Definitions) -> Iterator[None]:
    """What runs read from the process environment, for the demo's runs only: the variables
    the resources bind as ``dg.EnvVar`` (secrets and connections, resolved at run time) and the
    PII key the dbt process reads; restored afterwards. Everything else is in the settings."""
    names = bound_variables(defs) | {"PLATFORM_PII_KEY"}
    with environment({name: env[name] for name in names if name in env}):
        yield


def _arrived_on_time(sftp_root: Path, dates: list[dt.date]) -> None:
    """Date each vendor's files as arriving an hour before their deadline (never in the future),
    as a vendor's nightly drop would, so the ``file_arrival`` checks read "on time"."""
    from platform_assets.ingest.arrival import deadline

    now = dt.datetime.now(dt.UTC)
    for source in VENDOR_SOURCES:
        for day in dates:
            came = min(
                now, deadline(day, source.arrival_cron, source.timezone) - dt.timedelta(hours=1)
            )
            stamp = f"{day:%Y%m%d}"
            for file in (sftp_root / source.name).rglob(f"*{stamp}*"):
                os.utime(file, (came.timestamp(), came.timestamp()))


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _build_models(defs: dg.Definitions, instance: dg.DagsterInstance, dates: list[dt.date]) -> int:
    """Build the dbt models over the loaded days, one dbt invocation per group: the daily group
    and the Accengage group as one range run each, then the full rebuilds. Returns the models
    and tests built."""
    range_tags = {
        "dagster/asset_partition_range_start": dates[0].isoformat(),
        "dagster/asset_partition_range_end": dates[-1].isoformat(),
        "launched_by": "make demo",
    }
    built = 0
    for job, tags in (
        ("models_daily_job", range_tags),
        ("models_app_daily_job", range_tags),
        ("models_full_job", {"launched_by": "make demo"}),
    ):
        result = check(
            defs.resolve_job_def(job).execute_in_process(
                instance=instance, tags=tags, raise_on_error=False, run_config=QUIET
            ),
            job,
        )
        built += len(result.get_asset_materialization_events())
    return built


def _load(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    dates: list[dt.date],
    settings: Settings,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Every table's demo days, as a backfill loads them: one range run of each source's daily
    job (Accengage: one per app). Rows read and partitions loaded, per table."""
    read: dict[str, int] = {}
    partitions: dict[str, int] = {}
    runs: list[tuple[VendorSource, str | None]] = [
        (source, app)
        for source in VENDOR_SOURCES
        for app in (source.configure(settings).app_ids if source.has_apps else (None,))
    ]
    for done, (source, app) in enumerate(runs):
        progress(done, len(runs))
        result = check(
            defs.resolve_job_def(f"{source.name}_daily_job").execute_in_process(
                instance=instance,
                raise_on_error=False,
                tags={
                    "dagster/asset_partition_range_start": str(partition_key_for(dates[0], app)),
                    "dagster/asset_partition_range_end": str(partition_key_for(dates[-1], app)),
                    "launched_by": "make demo",
                },
                run_config=QUIET,
            ),
            f"{source.name}_daily_job" + (f" ({app})" if app else ""),
        )
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            rows_read = mat.metadata.get("rows_read")
            if rows_read is None:
                continue  # a rejects table's materialization
            name = ".".join(mat.asset_key.path)
            assert isinstance(rows_read.value, int)
            read[name] = read.get(name, 0) + rows_read.value
            partitions[name] = partitions.get(name, 0) + 1
    progress(len(runs), len(runs))
    return read, partitions


def _deliver(defs: dg.Definitions, instance: dg.DagsterInstance, day: dt.date) -> list[str]:
    """Each vendor's deliveries of the last demo day, uploaded to the embedded server; the
    runs' ids."""
    runs = []
    for source in VENDOR_SOURCES:
        if not source.deliveries:
            continue
        job = f"{source.name}_deliveries_job"
        result = check(
            defs.resolve_job_def(job).execute_in_process(
                instance=instance,
                partition_key=day.isoformat(),
                raise_on_error=False,
                run_config=QUIET,
                tags={"launched_by": "make demo"},
            ),
            job,
        )
        runs.append(result.run_id)
    return runs


def _loyalty(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """The loyalty program once, against the local stand-in for the vendors' APIs."""
    check(
        defs.resolve_job_def("loyalty_job").execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=QUIET,
            tags={"launched_by": "make demo"},
        ),
        "loyalty_job",
    )


def _instance(env: dict[str, str]) -> dg.DagsterInstance:
    """The demo's instance (``data/dagster_home``, the shipped config), so `make dev` shows the
    demo's runs. The shipped config places its storage under ``DAGSTER_HOME``: set here too."""
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


def run(data_dir: Path, days: int, rows: int, today: dt.date) -> int:
    """``make demo``: one line per stage, then the tables, the marts and what went out; every
    other output in ``data/demo.log``. A warm dbt serves the models' runs (it imports dbt while
    the files are written)."""
    console = Console(data_dir / "demo.log")
    with dbt_server.started(console.log_path) as warm_dbt:
        return _run(console, warm_dbt, data_dir, days, rows, today)


def _run(
    console: Console, warm_dbt: Path, data_dir: Path, days: int, rows: int, today: dt.date
) -> int:
    server = api = None
    try:
        with console.stage("files") as stage:
            server, api, dates, env = _prepare(data_dir, days, rows, today)
            files = sum(1 for p in (data_dir / "demo" / "sftp").rglob("*") if p.is_file())
            stage.detail = f"{files} vendor files of {len(dates)} days on the embedded SFTP server"
        env.setdefault(dbt_server.SERVER_ENV, str(warm_dbt))
        settings = Settings.from_env(env)
        defs = build_definitions(VENDOR_SOURCES, settings)
        warehouse = settings.duckdb_path
        with _instance(env) as instance, _run_environment(env, defs):
            with console.stage("loads") as stage:
                read, partitions = _load(
                    defs, instance, dates, settings, lambda d, t: console.progress(stage, d, t)
                )
                stage.detail = (
                    f"{sum(read.values()):,} rows of {len(read)} tables, "
                    f"{sum(partitions.values())} partitions in {stage.total} range runs"
                )
            with console.stage("models") as stage:
                dbt_server.ready(warm_dbt)  # imported long ago; else its models run plain dbt
                built = _build_models(defs, instance, dates)
                stage.detail = f"{built} models built by 3 dbt invocations"
            with console.stage("deliveries") as stage:
                sent = report.files_sent(warehouse, _deliver(defs, instance, dates[-1]))
                stage.detail = f"{sent} files sent"
            with console.stage("loyalty") as stage:
                _loyalty(defs, instance)
                stage.detail = "members, messages and segments sent to the API stand-in"
    except StageFailed:
        return 1
    finally:
        for running in (server, api):
            if running is not None:
                running.stop()
    timings = data_dir / "demo-timings.json"
    timings.write_text(json.dumps(console.seconds, indent=1), encoding="utf-8")
    console.say(f"\nLoaded into {warehouse} (full log: {console.log_path})")
    for lines in (
        report.tables(warehouse, read, partitions),
        ["", *report.marts(warehouse)],
        ["", "Outbound (files sent; loyalty API calls by kind and status)"],
        report.outbound(warehouse),
    ):
        for line in lines:
            console.say(line)
    console.say(
        "\nNext: `make dev` to browse the assets, lineage and these runs in the Dagster UI."
    )
    return 0


def dev(data_dir: Path, days: int, rows: int, today: dt.date, port: int) -> int:
    with dbt_server.started(data_dir / "dbt-server.log") as warm_dbt:
        return _dev(warm_dbt, data_dir, days, rows, today, port)


def _dev(warm_dbt: Path, data_dir: Path, days: int, rows: int, today: dt.date, port: int) -> int:
    server, api, dates, env = _prepare(data_dir, days, rows, today)
    env.setdefault(dbt_server.SERVER_ENV, str(warm_dbt))  # the code server's runs use it
    try:
        with _instance(env) as instance:
            if not instance.get_runs(limit=1):  # a fresh clone: show the demo's days, not nothing
                print("No run history yet: loading the demo's days first (as `make demo` does)")
                settings = Settings.from_env(env)
                defs = build_definitions(VENDOR_SOURCES, settings)
                with _run_environment(env, defs):
                    _load(defs, instance, dates, settings)
                    _build_models(defs, instance, dates)
                    _deliver(defs, instance, dates[-1])
                    _loyalty(defs, instance)
        print(f"Embedded SFTP server on 127.0.0.1:{server.port}; Dagster's UI on :{port}")
        return serve(port, env, data_dir)
    finally:
        server.stop()
        api.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platform_assets.demo", description=__doc__)
    parser.add_argument("command", choices=["run", "dev"])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=5000, help="notification rows per day")
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.UTC).date(),
        help="the day after the last demo day (YYYY-MM-DD, default: today in UTC; not later)",
    )
    parser.add_argument("--port", type=int, default=3000, help="dg dev's port")
    args = parser.parse_args(argv)
    if args.today > dt.datetime.now(dt.UTC).date():
        parser.error("--today is later than today: those days have no partitions yet")
    if args.command == "run":
        return run(args.data_dir, args.days, args.rows, args.today)
    return dev(args.data_dir, args.days, args.rows, args.today, args.port)


if __name__ == "__main__":
    sys.exit(main())
