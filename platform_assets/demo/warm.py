"""Imported by ``make dev``'s fork server only (:data:`platform_assets.demo.code_server.PRELOAD`):
the definitions built once there, from the environment ``make dev`` gave the code server, so each
run forked from it finds dagster-dbt's manifest, the specs and Dagster's caches warm and builds
its own definitions in ~0.15 s instead of ~0.4 s. A failure here is left to the run: it builds the
definitions again itself and reports the error as any run would (a fork server that raised would
start no run at all)."""

import contextlib
import gc

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES

with contextlib.suppress(Exception):  # what platform_assets.definitions.defs() builds
    build_definitions(VENDOR_SOURCES, Settings.from_env()).get_repository_def()

# Everything imported and built so far stays shared with the runs forked from here: the collector
# leaves these objects alone (a run's collections would otherwise touch, and so copy, every page).
gc.freeze()
