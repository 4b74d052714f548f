"""The demo's loyalty program (document 001): Annex Cloud's members and actions as the brand's
tables ``loyalty.members`` and ``loyalty.actions`` in the warehouse, linked to the demo's people
(the Attentive ones: phone and email), and the stand-in API server's tokens."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import duckdb

from platform_assets.demo import people
from platform_assets.demo.api_server import ApiServer
from platform_assets.outbound.loyalty.resources import access_token

MEMBERS = 60
"""Loyalty members: people 0 .. MEMBERS-1; every fifth has not opted in to SMS."""


def write_loyalty(warehouse: str, now: dt.datetime) -> None:
    """``loyalty.members`` and ``loyalty.actions`` (an action for every third member, within
    the last day), replaced."""
    members = [
        (f"L{p:05d}", people.national_phone(p), people.email(p), p % 5 != 0) for p in range(MEMBERS)
    ]
    actions = [
        (
            f"A{p:05d}",
            f"L{p:05d}",
            "points_earned",
            now - dt.timedelta(hours=p % 20),
            f"You earned {10 + p} points: see your rewards",
        )
        for p in range(0, MEMBERS, 3)
    ]
    Path(warehouse).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(warehouse) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS loyalty")
        con.execute(
            "CREATE OR REPLACE TABLE loyalty.members (member_id VARCHAR, phone VARCHAR, "
            "email VARCHAR, sms_opt_in BOOLEAN)"
        )
        con.executemany("INSERT INTO loyalty.members VALUES (?, ?, ?, ?)", members)
        con.execute(
            "CREATE OR REPLACE TABLE loyalty.actions (action_id VARCHAR, member_id VARCHAR, "
            "action_type VARCHAR, action_time TIMESTAMP, message_text VARCHAR)"
        )
        con.executemany("INSERT INTO loyalty.actions VALUES (?, ?, ?, ?, ?)", actions)


def start_api() -> tuple[ApiServer, dict[str, str]]:
    """The stand-in Attentive and Annex Cloud server, and the settings that point at it."""
    token, messages, loyalty = (secrets.token_urlsafe(24) for _ in range(3))
    site = "demo-site"
    server = ApiServer(token, messages, access_token(loyalty, site)).start()
    env = {
        "ATTENTIVE_API_URL": server.url,
        "ATTENTIVE_API_TOKEN": token,
        "ATTENTIVE_MESSAGES_API_TOKEN": messages,
        "ATTENTIVE_SIGN_UP_SOURCE_ID": "132109",
        "ANNEX_CLOUD_API_URL": server.url,
        "ANNEX_CLOUD_SITE_ID": site,
        "ANNEX_CLOUD_LOYALTY_TOKEN": loyalty,
        # the local stand-in takes more than Attentive's published 10 subscriptions a second
        # (the default against the real API); at 10/s the demo's ~100 calls would take 10 s
        "ATTENTIVE_API_RATE_LIMITS": "subscriptions=100,unsubscribe=100",
    }
    return server, env
