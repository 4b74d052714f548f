"""Where runs execute (``PLATFORM_EXECUTOR``, the Celery workers' configuration) and the
deployment on paper (``docs/deploy.md``): its Helm values and worker Deployment parsed and
checked against the keys Dagster's chart reads and the settings the code location needs, since
no cluster runs here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import pytest
import yaml

from platform_assets.core.errors import SettingsError
from platform_assets.core.execution import ExecutionSettings
from platform_assets.core.settings import Settings
from platform_assets.core.variables import VARIABLES
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.workers import worker_command, write_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy.md"
CHART_KEYS = {
    "global", "dagsterWebserver", "dagsterDaemon", "dagster-user-deployments", "runLauncher",
    "postgresql", "generatePostgresqlPasswordSecret", "rabbitmq", "redis", "computeLogManager",
}  # fmt: skip
"""Top-level keys of the dagster/dagster chart's values.yaml (1.x) that this page may set."""
SECRETS = re.compile(r"PASSWORD|_KEY$|BROKER|BACKEND|TOKEN")
"""Names whose values are secrets: never in values, only in a Secret."""


def test_the_default_runs_in_process_and_celery_needs_its_broker():
    assert ExecutionSettings.from_env({}).executor_def() is dg.in_process_executor
    multi = ExecutionSettings.from_env({"PLATFORM_EXECUTOR": "multiprocess"})
    assert multi.executor_def() is dg.multiprocess_executor
    with pytest.raises(SettingsError, match="PLATFORM_CELERY_BROKER"):
        ExecutionSettings.from_env({"PLATFORM_EXECUTOR": "celery"})
    with pytest.raises(SettingsError, match="PLATFORM_EXECUTOR must be one of"):
        ExecutionSettings.from_env({"PLATFORM_EXECUTOR": "threads"})
    with pytest.raises(SettingsError, match="whole number of seconds"):
        ExecutionSettings.from_env({"PLATFORM_CELERY_VISIBILITY_TIMEOUT": "1h"})


def test_the_workers_config_hands_a_dead_workers_step_back_and_holds_no_secret(tmp_path):
    password = "s3cret-broker-password"
    env = {
        "PLATFORM_EXECUTOR": "celery",
        "PLATFORM_CELERY_BROKER": f"redis://:{password}@redis.internal:6379/0",
        "PLATFORM_CELERY_VISIBILITY_TIMEOUT": "900",
    }
    path = write_config(Settings.from_env(env), tmp_path / "celery.yaml")
    text = path.read_text()
    assert password not in text
    config = yaml.safe_load(text)["execution"]["config"]  # what dagster-celery's worker reads
    assert config["broker"] == {"env": "PLATFORM_CELERY_BROKER"}
    assert config["backend"] == {"env": "PLATFORM_CELERY_BROKER"}  # no backend of its own
    source = config["config_source"]
    assert source["task_acks_late"] and source["task_reject_on_worker_lost"]
    assert source["worker_prefetch_multiplier"] == 1
    transport = source["broker_transport_options"]
    assert transport["visibility_timeout"] == 900
    # a worker scans for timed-out messages every 10 s (a quarter of a shorter timeout)
    assert (transport["unacked_restore_interval"], transport["unacked_restore_throttle"]) == (10, 1)
    assert json.loads(text) == yaml.safe_load(text)
    command = worker_command(path, "worker1")
    assert command[1:6] == ["worker", "start", "-A", "dagster_celery.app", "-y"]
    assert command[-2:] == ["--concurrency", "1"]


def test_a_short_visibility_timeout_is_swept_more_often():
    for timeout, sweep in ((7200, 10), (40, 10), (20, 5), (6, 1), (1, 1)):
        source = ExecutionSettings(executor="celery", visibility_timeout=timeout).celery_config()
        transport = source["config_source"]["broker_transport_options"]
        assert transport["unacked_restore_interval"] == sweep, timeout


def test_a_lake_data_path_must_be_absolute():
    env = {
        "PLATFORM_WAREHOUSE": "ducklake",
        "PLATFORM_LAKE_CATALOG_HOST": "h",
        "PLATFORM_LAKE_CATALOG_DB": "d",
        "PLATFORM_LAKE_CATALOG_USER": "u",
        "PLATFORM_LAKE_CATALOG_PASSWORD": "p",
        "PLATFORM_LAKE_DATA_PATH": "data/lake",
    }
    with pytest.raises(SettingsError, match="absolute path or a URL"):
        Settings.from_env(env).warehouse()
    for path in ("/shared/lake", "s3://bucket/lake/"):
        resource = Settings.from_env({**env, "PLATFORM_LAKE_DATA_PATH": path}).warehouse()
        assert resource.backend == "ducklake"


def _documents() -> tuple[dict, dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", DEPLOY.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2, "docs/deploy.md: the chart's values, then the workers' Deployment"
    values, workers = (yaml.safe_load(b) for b in blocks)
    return values, workers


def test_the_helm_values_set_what_the_chart_reads():
    values, _ = _documents()
    assert set(values) <= CHART_KEYS
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    assert set(coordinator["config"]) == {"queuedRunCoordinator"}
    assert values["runLauncher"]["type"] in {"K8sRunLauncher", "CeleryK8sRunLauncher"}
    assert values["postgresql"]["enabled"] is False and values["postgresql"]["postgresqlHost"]
    assert values["generatePostgresqlPasswordSecret"] is False
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    module = re.search(r'module_name = "(.+)"', (ROOT / "pyproject.toml").read_text())
    assert module is not None
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module.group(1)]
    assert isinstance(deployment["port"], int) and deployment["image"]["repository"]
    # every part that runs code gets the secrets from a Secret
    for part in (
        values["dagsterWebserver"],
        values["dagsterDaemon"],
        deployment,
        values["runLauncher"]["config"]["k8sRunLauncher"],
    ):
        assert part["envSecrets"] == [{"name": "platform-secrets"}]


def test_the_values_and_the_secret_configure_the_lake_on_celery():
    """The code location's environment (values' env plus the Secret's names, given values here)
    is complete: the definitions load with the lake and the Celery executor, every name is a
    documented setting, and no secret is written in the values."""
    values, workers = _documents()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    env = dict(deployment["env"])
    assert not [name for name in env if SECRETS.search(name)]
    text = DEPLOY.read_text(encoding="utf-8")
    secret_part = text.split("`platform-secrets`", 1)[1].split("\n\n", 1)[0]
    secrets = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", secret_part))
    needed = {"PLATFORM_LAKE_CATALOG_PASSWORD", "PLATFORM_CELERY_BROKER", "PLATFORM_PII_KEY"}
    assert needed <= secrets
    prefixes = tuple(s.prefix for s in VENDOR_SOURCES)
    documented = [v.pattern(prefixes) for v in VARIABLES]
    assert [n for n in env if not any(p.fullmatch(n) for p in documented)] == []
    full = {**env, **{name: "x" * 16 for name in secrets}}
    full["PLATFORM_CELERY_BROKER"] = "redis://:x@redis.internal:6379/0"
    settings = Settings.from_env(full)
    assert settings.warehouse().backend == "ducklake"
    assert settings.execution.executor == "celery"
    # the workers: the same settings, dagster-celery's worker through make workers's module
    (container,) = workers["spec"]["template"]["spec"]["containers"]
    assert workers["kind"] == "Deployment"
    assert container["command"][:3] == ["python", "-m", "platform_assets.workers"]
    worker_env = {e["name"]: e["value"] for e in container["env"]}
    assert worker_env["PLATFORM_EXECUTOR"] == "celery" and "DAGSTER_HOME" in worker_env
    assert worker_env["PLATFORM_WAREHOUSE"] == env["PLATFORM_WAREHOUSE"]
    assert container["envFrom"] == [{"secretRef": {"name": "platform-secrets"}}]
