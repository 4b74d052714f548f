"""The two APIs of document 001 as Dagster resources: Attentive's subscriptions and messages,
and Annex Cloud's segments. Tokens are ``dg.EnvVar``s; they go in the ``Authorization`` header
and nowhere else (never in a log, metadata or an error). Every call returns an
:class:`~platform_assets.outbound.loyalty.http.Outcome`; retries are urllib3's (see ``http.py``)."""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

import dagster as dg
import requests
from pydantic import Field, PrivateAttr
from pyrate_limiter import Duration, Limiter, Rate

from platform_assets.core.settings import Settings
from platform_assets.outbound.loyalty import http
from platform_assets.outbound.loyalty.http import HttpPolicy, Outcome

ATTENTIVE_URL = "https://api.attentivemobile.com"
ANNEX_CLOUD_URL = "https://s15.socialannex.net"
TEXT_CHANNEL = {"type": "MARKETING", "channel": "TEXT"}
EMAIL_CHANNEL = {"type": "MARKETING", "channel": "EMAIL"}


ATTENTIVE_RATE_LIMITS = {"subscriptions": 10, "unsubscribe": 5, "messages": 150}
"""Attentive's published limits, requests per second: 10 for subscribe and identity (the
eligibility question is ``GET /v1/subscriptions``), 5 for unsubscribe, 150 for the others."""
ANNEX_CLOUD_RATE_LIMITS = {"segment": 2}
"""Annex Cloud publishes none: a conservative 2 requests per second."""


class _Api(dg.ConfigurableResource):
    base_url: str
    rate_limits: dict[str, int] = Field(
        default_factory=dict,
        description="Requests per second per endpoint (client side; the endpoint's default else)",
    )
    lock_timeout_seconds: float = Field(
        default=600.0, gt=0, description="The longest wait for the rate limit before failing"
    )
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0, description="Retries of a 429/5xx or no connection")
    backoff_seconds: float = Field(default=0.5, ge=0)
    backoff_jitter_seconds: float = Field(default=0.5, ge=0, description="Added at random")
    retry_after_max_seconds: float = Field(default=60.0, ge=0)
    _http: requests.Session | None = PrivateAttr(default=None)
    _limiters: dict[str, Limiter] = PrivateAttr(default_factory=dict)
    DEFAULT_LIMITS: ClassVar[dict[str, int]] = {}

    @property
    def policy(self) -> HttpPolicy:
        return HttpPolicy(
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            retries=self.max_retries,
            backoff=self.backoff_seconds,
            jitter=self.backoff_jitter_seconds,
            retry_after_max=self.retry_after_max_seconds,
        )

    def _call(self, endpoint: str, method: str, path: str, token: str, **kw: Any) -> Outcome:
        """One call, after the endpoint's rate limit lets it go (pyrate-limiter, per process:
        a run's calls; the loyalty assets of one deployment run one at a time)."""
        if self._http is None:
            self._http = http.session(self.policy)
        self._limiter(endpoint)
        return http.call(
            self._http, self.policy, method, self.base_url.rstrip("/") + path, token=token, **kw
        )

    def _limiter(self, endpoint: str) -> None:
        if endpoint not in self._limiters:
            per_second = {**self.DEFAULT_LIMITS, **self.rate_limits}.get(endpoint, 1)
            self._limiters[endpoint] = Limiter(Rate(per_second, Duration.SECOND))
        if not self._limiters[endpoint].try_acquire(
            endpoint, blocking=True, timeout=self.lock_timeout_seconds
        ):
            raise RateLimitWait(
                f"{endpoint}: waited {self.lock_timeout_seconds:.0f} s for the rate limit"
            )


class RateLimitWait(Exception):
    """A call waited longer than ``lock_timeout_seconds`` for its endpoint's rate limit."""


class AttentiveApi(_Api):
    """Attentive's REST API (document 001): subscribe, eligibility, unsubscribe with the app's
    token; messages with the separate legacy messages token (issued on request by Attentive)."""

    base_url: str = ATTENTIVE_URL
    DEFAULT_LIMITS: ClassVar[dict[str, int]] = ATTENTIVE_RATE_LIMITS
    token: str = Field(description="Bearer token of the Attentive app (ATTENTIVE_API_TOKEN)")
    messages_token: str = Field(
        description="The legacy messages API token (ATTENTIVE_MESSAGES_API_TOKEN)"
    )
    sign_up_source_id: str = Field(description="The sign-up flow's id (signUpSourceId)")

    def subscribe(self, phone: str, email: str | None) -> Outcome:
        user = {"phone": phone, **({"email": email} if email else {})}
        body = {"user": user, "signUpSourceId": self.sign_up_source_id}
        return self._call("subscriptions", "POST", "/v1/subscriptions", self.token, json_body=body)

    def eligibility(self, phone: str, email: str | None) -> Outcome:
        params = {"phone": phone, **({"email": email} if email else {})}
        return self._call("subscriptions", "GET", "/v1/subscriptions", self.token, params=params)

    def unsubscribe(self, phone: str, email: str | None) -> Outcome:
        user = {"phone": phone, **({"email": email} if email else {})}
        body = {"user": user, "subscriptions": [EMAIL_CHANNEL, TEXT_CHANNEL]}
        path = "/v1/subscriptions/unsubscribe"
        return self._call("unsubscribe", "POST", path, self.token, json_body=body)

    def message(self, to: str, text: str) -> Outcome:
        """Send ``text`` to ``to``. The answer echoes both (document 001); an answer that
        echoes another message (a proxy's mix-up, answers out of order) says nothing about
        this one: in doubt."""
        body = {"to": to, "body": text}
        path = "/v1/subscriptions/messages"
        outcome = self._call("messages", "POST", path, self.messages_token, json_body=body)
        echoed = (outcome.body.get("to"), outcome.body.get("body"))
        if outcome.ok and echoed != (to, text):
            return Outcome(
                http.IN_DOUBT, outcome.status, {}, outcome.attempts,
                error="the answer is another message's (not this one's echo)",
            )  # fmt: skip
        return outcome


def text_eligible(body: dict[str, Any]) -> bool:
    """Whether an eligibility answer says the TEXT (SMS) subscription is open."""
    for item in body.get("subscriptionEligibilities") or []:
        if (item.get("subscription") or {}).get("channel") == "TEXT":
            return bool((item.get("eligibility") or {}).get("isEligible"))
    return False


class AnnexCloudApi(_Api):
    """Annex Cloud's Loyalty V3 segment API (document 001). Its access token is, as the document
    says, the base64 of a JSON array of the loyalty token and the site id; the document does not
    say how it is sent: here as a bearer token."""

    base_url: str = ANNEX_CLOUD_URL
    DEFAULT_LIMITS: ClassVar[dict[str, int]] = ANNEX_CLOUD_RATE_LIMITS
    site_id: str = Field(description="Annex Cloud site id (ANNEX_CLOUD_SITE_ID)")
    loyalty_token: str = Field(description="The loyalty token (ANNEX_CLOUD_LOYALTY_TOKEN)")

    @property
    def access_token(self) -> str:
        return access_token(self.loyalty_token, self.site_id)

    def create_segment(
        self,
        *,
        name: str,
        segment_type: str,
        from_date: str,
        to_date: str,
        members: list[str],
        status: str = "ACTIVE",
        external_id: str = "",
        external_name: str = "",
    ) -> Outcome:
        body = {
            "name": name,
            "type": segment_type,
            "fromDate": from_date,
            "toDate": to_date,
            "member": ",".join(members),
            "status": status,
            "externalId": external_id,
            "externalName": external_name,
        }
        outcome = self._call(
            "segment", "POST", "/api/3.0/segment", self.access_token, json_body=body
        )
        if outcome.ok and "errorCode" in outcome.body:  # an error answered with 200
            return Outcome(
                http.FAILED,
                outcome.status,
                outcome.body,
                outcome.attempts,
                error=http.error_text(outcome.body),
            )
        return outcome


def access_token(loyalty_token: str, site_id: str) -> str:
    """Document 001: "Create a JSON array with Loyalty Token and Site id", then
    ``base64_encode()`` it: PHP's ``json_encode`` writes the array without spaces
    (``["tok","480011"]``), so the JSON here is compact too."""
    array = json.dumps([loyalty_token, site_id], separators=(",", ":"))
    return base64.b64encode(array.encode()).decode()


def attentive_api(settings: Settings) -> AttentiveApi:
    """Attentive's REST API: ``ATTENTIVE_API_TOKEN``, ``ATTENTIVE_MESSAGES_API_TOKEN`` (the
    legacy messages token), ``ATTENTIVE_SIGN_UP_SOURCE_ID``; ``ATTENTIVE_API_URL``."""
    return AttentiveApi(
        base_url=settings.optional("ATTENTIVE_API_URL") or ATTENTIVE_URL,
        token=dg.EnvVar("ATTENTIVE_API_TOKEN"),
        messages_token=dg.EnvVar("ATTENTIVE_MESSAGES_API_TOKEN"),
        sign_up_source_id=dg.EnvVar("ATTENTIVE_SIGN_UP_SOURCE_ID"),
        read_timeout_seconds=settings.seconds("ATTENTIVE_API_READ_TIMEOUT_SECONDS", 30.0),
        rate_limits=settings.rates("ATTENTIVE_API_RATE_LIMITS", ATTENTIVE_RATE_LIMITS),
    )


def annex_cloud_api(settings: Settings) -> AnnexCloudApi:
    """Annex Cloud's segment API: ``ANNEX_CLOUD_SITE_ID``, ``ANNEX_CLOUD_LOYALTY_TOKEN``;
    ``ANNEX_CLOUD_API_URL``."""
    return AnnexCloudApi(
        base_url=settings.optional("ANNEX_CLOUD_API_URL") or ANNEX_CLOUD_URL,
        site_id=dg.EnvVar("ANNEX_CLOUD_SITE_ID"),
        loyalty_token=dg.EnvVar("ANNEX_CLOUD_LOYALTY_TOKEN"),
        read_timeout_seconds=settings.seconds("ANNEX_CLOUD_API_READ_TIMEOUT_SECONDS", 30.0),
        rate_limits=settings.rates("ANNEX_CLOUD_API_RATE_LIMITS", ANNEX_CLOUD_RATE_LIMITS),
    )
