"""The loyalty program of Annex Cloud's "Attentive SMS integration" (:data:`DOCUMENT`): Annex Cloud
members and actions, Attentive as their SMS gateway. Defined where ``ATTENTIVE_API_TOKEN`` is
set; the relations, the trigger and the phone region are ``LOYALTY_*`` settings.

Its segments: adding one is adding a :class:`Segment` here.
"""

from platform_assets.core.segments import Segment
from platform_assets.core.specs import VendorDocument

DOCUMENT = VendorDocument(
    "Annex Cloud: Attentive SMS integration (Loyalty actions through Attentive's API)"
)

SEGMENTS: tuple[Segment, ...] = (
    # the document's example use: SMS subscribers who converted recently, by email
    Segment(key="sms_converters_30d", name="SMS converters (30 days)", window_days=30),
)
