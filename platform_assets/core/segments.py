"""The loyalty program's segments, as a brand declares them (``platform_assets/defs/loyalty.py``):
each is pushed to Annex Cloud once a day and exported for Attentive (see
:mod:`platform_assets.outbound.loyalty.assets`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    """A segment pushed to Annex Cloud each day and exported for Attentive."""

    key: str
    name: str
    window_days: int = 30
    segment_type: str = "Current Data"
