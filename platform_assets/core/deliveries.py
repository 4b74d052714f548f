"""What a delivery is: a file the brand sends a vendor each day, from a relation in the warehouse.

A vendor declares its deliveries in its own module (``defs/<vendor>.py``) as specs; adding one is
adding a spec. Three shapes exist, each a class here:

- :class:`Feed` (ASAPP's call metadata, transcripts, transactions): the documented fields in the
  documented order, one file per day, checked with the inbound table's own pandera rules.
- :class:`StaticList` (Accengage): one file per app of the members (or devices) whose rows fall in
  the window ending on the day, the latest row of each, with custom fields and an expiry date.
- :class:`DeviceUpdates` (Accengage): one asset per app, the day's rows; an empty value clears the
  field on Accengage's side, so a file carries only columns every row has a value for.

The relation contract (docs/deliveries.md): a ``delivery_date`` DATE column (the day a row
belongs to) and, for vendors with apps, an ``app_id`` column; then the columns each shape names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import dagster as dg

from platform_assets.core import checks
from platform_assets.core.settings import RELATION
from platform_assets.core.specs import Column, CsvDialect, Md5Key, TableSpec, VendorDocument

DAY_COLUMN = "delivery_date"
APP_COLUMN = "app_id"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


@dataclass(frozen=True)
class FileStyle:
    """How a vendor wants the files it receives written."""

    delimiter: str
    quote_all: bool
    """Every field (and the header) double-quoted (Accengage); else only where needed."""
    null_text: str
    """What a missing value is written as (ASAPP: ``NULL``; Accengage: an empty field)."""
    timestamp: str
    """``iso_utc`` (``2020-01-03T20:02:13Z``, fractions only when non-zero) or ``local``
    (``2016-12-13 20:00:00`` in :attr:`timezone`)."""
    timezone: str = "UTC"
    marker: bool = False
    """An empty ``.txt`` with the CSV's name confirms a complete upload (Accengage)."""


@dataclass(frozen=True)
class Delivery:
    """What every delivery has; the shapes below add what they need."""

    vendor: str
    name: str
    """The asset's name (``sftp/<vendor>/delivered/<name>``); settings ``<VENDOR>_<NAME>_*``."""
    description: str
    file_name: str
    """The delivered file's name: ``{YYYYMMDD}``, ``{YYYYMMDDhhmmss}`` and ``{app-id}`` stand for
    the partition's day (at 00:00:00) and the app."""
    style: FileStyle
    relation: str | None = None
    """The default relation (``schema.table``; ``<VENDOR>_<NAME>_RELATION`` overrides it); None:
    the delivery exists only where that setting names one."""
    document: VendorDocument | None = None

    def __post_init__(self) -> None:
        if not IDENTIFIER.fullmatch(self.name):
            raise ValueError(f"delivery name {self.name!r} is not an identifier")
        if self.relation is not None and not RELATION.fullmatch(self.relation):
            raise ValueError(f"{self.name}: relation {self.relation!r} is not schema.table")

    @property
    def setting(self) -> str:
        return f"{self.vendor.upper()}_{self.name.upper()}_RELATION"

    @property
    def per_app(self) -> bool:
        return "{app-id}" in self.file_name

    def remote_name(self, day: dt.date, app: str | None = None) -> str:
        name = self.file_name.replace("{YYYYMMDDhhmmss}", day.strftime("%Y%m%d") + "000000")
        name = name.replace("{YYYYMMDD}", day.strftime("%Y%m%d"))
        return name.replace("{app-id}", app or "")

    def required_columns(self) -> tuple[str, ...]:
        """The relation's columns this delivery reads (besides the day and app)."""
        raise NotImplementedError

    def file_rules(self, header: list[str]) -> TableSpec:
        """The pandera rules the written file must pass before it is uploaded."""
        raise NotImplementedError

    def file_key(self, header: list[str], member_header: str = "member_id") -> list[str]:
        """The written file's columns that name a row: the vendor takes one row per key, so
        rows sharing a key but differing elsewhere are refused (identical rows are one)."""
        raise NotImplementedError

    def sends_empty(self, allowed: bool) -> bool:
        """Whether a day without rows still uploads its (header-only) file."""
        return True


@dataclass(frozen=True)
class Feed(Delivery):
    """The documented fields of an inbound table, written as the vendor reads them."""

    table: TableSpec | None = None
    """The vendor's table spec: its CSV columns are the file's, its rules the file's rules."""

    def required_columns(self) -> tuple[str, ...]:
        assert self.table is not None
        return self.table.csv_columns

    def file_rules(self, header: list[str]) -> TableSpec:
        assert self.table is not None
        return self.table

    def file_key(self, header: list[str], member_header: str = "member_id") -> list[str]:
        """The inbound table's MD5 key's parts (ASAPP: e.g. customer_id + call_start)."""
        assert self.table is not None
        keys = [c for c in self.table.columns if isinstance(c, Md5Key) and c.name == self.table.key]
        return [p.source for p in keys[0].parts] if keys else list(header)


MAX_CUSTOM_FIELDS = 10
MAX_FIELD_CHARS = 255


@dataclass(frozen=True)
class AppFile(Delivery):
    """An Accengage import: a matching key (``member_id`` or ``device_id``) and custom fields of
    at most 255 characters, at most 10 of them (document 002, section 5)."""

    keys: tuple[str, ...] = ("member_id",)
    """The matching key column(s) of the relation: ``member_id`` (written under the app's own
    member-id header) and/or ``device_id``."""
    custom_fields: tuple[str, ...] = ()
    max_custom_fields: int = MAX_CUSTOM_FIELDS
    max_field_chars: int = MAX_FIELD_CHARS

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.keys or set(self.keys) - {"member_id", "device_id"}:
            raise ValueError(f"{self.name}: keys must be member_id and/or device_id")
        bad = [c for c in self.custom_fields if not IDENTIFIER.fullmatch(c)]
        if bad:
            raise ValueError(f"{self.name}: custom fields {bad} are not identifiers")
        if len(self.custom_fields) > self.max_custom_fields:
            raise ValueError(
                f"{self.name}: {len(self.custom_fields)} custom fields; Accengage takes at most "
                f"{self.max_custom_fields}"
            )

    def required_columns(self) -> tuple[str, ...]:
        return (*self.keys, *self.custom_fields)

    def file_key(self, header: list[str], member_header: str = "member_id") -> list[str]:
        """The matching keys the file carries (``member_id`` under the app's own header)."""
        keys = [member_header if k == "member_id" else k for k in self.keys]
        return [k for k in keys if k in header]

    def file_rules(self, header: list[str]) -> TableSpec:
        """Every written field at most ``max_field_chars`` long; a key present on every row,
        and for device updates every field present (an empty one would clear data)."""
        limit = checks.regex(rf"(?s).{{0,{self.max_field_chars}}}", "max_255_characters")
        required = set(header) if isinstance(self, DeviceUpdates) else set(header[:1])
        return TableSpec(
            source=self.vendor,
            schema="deliveries",
            table=self.name,
            description=self.description,
            file_pattern=f"{self.name}_{{YYYYMMDD}}.csv",
            columns=tuple(
                Column(f"c{i}", source=h, required=h in required, rules=(limit,))
                for i, h in enumerate(header)
            ),
            key="c0",
            dialect=CsvDialect(delimiter=self.style.delimiter),
            document=self.document,
        )


@dataclass(frozen=True)
class StaticList(AppFile):
    """``staticlist_{name}_{app-id}_{YYYYMMDDhhmmss}.csv``: truncate-insert on Accengage's side."""

    window_days: int = 1
    """The list holds the keys with a row in the ``window_days`` days ending on the partition's
    day; a key's custom fields come from its latest row."""
    expiry_days: int | None = None
    """``expiry_date`` = the partition's day + this many days, 00:00:00 (None: no expiry)."""

    def sends_empty(self, allowed: bool) -> bool:
        """A static list is truncate-insert at Accengage: an empty file *empties the list*. Sent
        only where ``<VENDOR>_ALLOW_EMPTY_STATIC_LISTS=true`` says that is meant."""
        return allowed

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window_days < 1:
            raise ValueError(f"{self.name}: window_days must be at least 1")


@dataclass(frozen=True)
class DeviceUpdates(AppFile):
    """``updateDevices_{app-id}_{YYYYMMDD}.csv``: an empty value clears the field."""

    def sends_empty(self, allowed: bool) -> bool:
        """An update without rows changes nothing: never sent."""
        return False


@dataclass(frozen=True)
class ConfiguredDelivery:
    """A delivery as one deployment configures it."""

    spec: Delivery
    relation: str
    partitions_def: dg.PartitionsDefinition
    app_ids: tuple[str, ...] = ()
    member_headers: dict[str, str] = field(default_factory=dict)
    """App -> the app's member-id header (``ACCENGAGE_MEMBER_ID_COLUMNS``; default member_id)."""
    folder: str = ""
    allow_empty: bool = False
    """``<VENDOR>_ALLOW_EMPTY_STATIC_LISTS``: a day without rows uploads an empty static list
    (which empties that list at Accengage); else nothing is uploaded that day."""

    @property
    def relation_key(self) -> dg.AssetKey:
        return dg.AssetKey(self.relation.split("."))
