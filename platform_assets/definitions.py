"""The code location: every vendor source's definitions plus the shared DuckDB warehouse.

``dagster dev`` (via workspace.yaml) and ``dagster asset materialize -m
platform_assets.definitions`` load ``defs`` from here.
"""

import dagster as dg

from platform_assets.defs.accengage import definitions as accengage
from platform_assets.defs.asapp import definitions as asapp
from platform_assets.defs.attentive import definitions as attentive
from platform_assets.defs.postscript import definitions as postscript
from platform_assets.lib.settings import warehouse_from_env

defs = dg.Definitions.merge(
    attentive.defs,
    postscript.defs,
    asapp.defs,
    accengage.defs,
    dg.Definitions(resources={"duckdb": warehouse_from_env()}),
)
