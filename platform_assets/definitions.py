"""The code location: every vendor source, configured from the environment when it loads.

``dagster dev`` (via workspace.yaml) and ``dagster asset materialize -m
platform_assets.definitions`` load ``defs`` from here; the environment is read then, not at import.
A process builds them once per configuration (``compose.configured_definitions``).
"""

import os

import dagster as dg

from platform_assets.compose import configured_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return configured_definitions(os.environ)
