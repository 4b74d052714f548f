"""The code location: every vendor source, configured from the environment when it loads.

``dagster dev`` (via workspace.yaml) and ``dagster asset materialize -m
platform_assets.definitions`` load ``defs`` from here; the environment is read then, not at import.
"""

import dagster as dg

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(VENDOR_SOURCES, Settings.from_env())
