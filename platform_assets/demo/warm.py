"""Imported by ``make dev``'s fork server only (:data:`platform_assets.demo.code_server.PRELOAD`):
the definitions built once there, from the environment ``make dev`` gave the code server, and
kept (``compose.configured_definitions``), so each run forked from it loads them built and
resolved instead of building them again (~0.3 s of CPU per run). A failure here is left to the
run: it builds the definitions again itself and reports the error as any run would (a fork server
that raised would start no run at all)."""

import contextlib
import gc
import os

from platform_assets.compose import configured_definitions

with contextlib.suppress(Exception):  # what platform_assets.definitions.defs() loads, kept
    configured_definitions(os.environ).get_repository_def()

# Everything imported and built so far stays shared with the runs forked from here: the collector
# leaves these objects alone (a run's collections would otherwise touch, and so copy, every page).
gc.freeze()
