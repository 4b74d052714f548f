"""The vendor sources: one module each (its table specs and its ``SOURCE``), listed once here."""

from platform_assets.core.sources import VendorSource
from platform_assets.defs.accengage import SOURCE as ACCENGAGE
from platform_assets.defs.asapp import SOURCE as ASAPP
from platform_assets.defs.attentive import SOURCE as ATTENTIVE
from platform_assets.defs.postscript import SOURCE as POSTSCRIPT

VENDOR_SOURCES: tuple[VendorSource, ...] = (ATTENTIVE, POSTSCRIPT, ASAPP, ACCENGAGE)
