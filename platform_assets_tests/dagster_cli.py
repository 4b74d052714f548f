"""The ``dagster`` commands the deployment tests give (``instance migrate``, ``sensor stop``,
``job launch``, ``job backfill``, ``dagster-graphql``), run in the test's own process: each is
the function its command calls (``dagster._cli``, ``dagster_graphql.cli``), over the deployment's
workspace file (its code server) and its instance (this process's, opened from the deployment's
``DAGSTER_HOME`` by :func:`deployment_instance`). The instance ends up as the command leaves it:
migrated, the sensor stopped, the run queued, the backfill requested. A process per command would
import Dagster again each time (~2-4 CPU-s) beside the deployment's own work."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from platform_assets.core.environ import environment


@contextmanager
def deployment_instance(env: Mapping[str, str]) -> Iterator[dg.DagsterInstance]:
    """The deployment's instance in this process: ``env`` (its ``DAGSTER_HOME``, the storage's
    variables) set in ``os.environ`` while it is open (Dagster reads them there), then put back."""
    with environment(env), dg.DagsterInstance.get() as instance:
        yield instance


def migrate(instance: dg.DagsterInstance) -> None:
    """``dagster instance migrate``: the storage's schema brought up to this Dagster's."""
    instance.upgrade()


@contextmanager
def _repository(instance: dg.DagsterInstance, workspace: Path) -> Iterator[Any]:
    """The workspace's one code location's one repository, as the commands find it."""
    from dagster import __version__
    from dagster._cli.workspace.cli_target import (
        WorkspaceOpts,
        get_code_location_from_workspace,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )

    opts = WorkspaceOpts(workspace=[str(workspace)])
    with get_workspace_from_cli_opts(instance, version=__version__, workspace_opts=opts) as ws:
        yield get_remote_repository_from_code_location(
            get_code_location_from_workspace(ws, None), None
        )


def stop_sensors(instance: dg.DagsterInstance, workspace: Path, *names: str) -> None:
    """``dagster sensor stop -w workspace NAME`` for each name."""
    with _repository(instance, workspace) as repo:
        for name in names:
            sensor = repo.get_sensor(name)
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)


def launch(instance: dg.DagsterInstance, workspace: Path, job: str, tags: Mapping[str, str]) -> str:
    """``dagster job launch -w workspace -j job --tags ...``: the run queued; its id."""
    from dagster._cli.job import execute_launch_command
    from dagster._cli.workspace.cli_target import WorkspaceOpts

    return execute_launch_command(
        instance=instance,
        workspace_opts=WorkspaceOpts(workspace=[str(workspace)]),
        job_name=job,
        tags=json.dumps(dict(tags)),
        run_id=str(uuid.uuid4()),
    ).run_id


def backfill(
    instance: dg.DagsterInstance, workspace: Path, job: str, partitions: list[str]
) -> None:
    """``dagster job backfill -w workspace -j job --partitions a,b --noprompt``."""
    from dagster._cli.job import execute_backfill_command
    from dagster._cli.workspace.cli_target import WorkspaceOpts

    execute_backfill_command(
        instance=instance,
        workspace_opts=WorkspaceOpts(workspace=[str(workspace)]),
        job_name=job,
        partitions=",".join(partitions),
        noprompt=True,
        print_fn=lambda *_: None,
    )


def graphql(
    instance: dg.DagsterInstance, workspace: Path, query: str, variables: Mapping[str, object]
) -> dict[str, Any]:
    """``dagster-graphql -w workspace -t query -v variables``: the answer, as the UI gets it."""
    from dagster import __version__
    from dagster._cli.workspace.cli_target import WorkspaceOpts, workspace_opts_to_load_target
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster_graphql.cli import execute_query

    target = workspace_opts_to_load_target(WorkspaceOpts(workspace=[str(workspace)]))
    with WorkspaceProcessContext(
        instance=instance, version=__version__, read_only=False, workspace_load_target=target
    ) as context:
        return execute_query(context, query, variables)
