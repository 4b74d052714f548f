"""The demo's sample files hold their promises on any start day: every vendor's files of every
day carry one event of each regular, with the identifiers the models link them by (computed here
from the person number, ASAPP's hash with ``hashlib``), so the cross-vendor overlap that
``make demo`` shows is a property of the generator, not luck of the day's seed."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
from pathlib import Path

import pytest

from platform_assets.demo import people
from platform_assets.demo.samples import write_attentive_day
from platform_assets.demo.vendor_samples import DEMO_APPS, write_vendor_day

# a spread of start days over three years (every 47 days: each weekday and month is hit), and
# the days that have broken date arithmetic before
START_DAYS = sorted(
    {dt.date(2024, 1, 1) + dt.timedelta(days=47 * n) for n in range(24)}
    | {dt.date(2024, 2, 29), dt.date(2024, 12, 31), dt.date(2026, 3, 29), dt.date(2026, 10, 25)}
)


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def _one(folder: Path, stem: str) -> Path:
    [path] = [p for p in folder.iterdir() if p.name.startswith(stem)]
    return path


@pytest.mark.parametrize("today", START_DAYS, ids=str)
def test_every_regular_is_at_every_vendor_on_every_demo_day(tmp_path, today):
    days = [today - dt.timedelta(days=2), today - dt.timedelta(days=1)]
    for day in days:
        write_attentive_day(
            tmp_path / "attentive",
            day,
            conversions=40,
            notifications=400,
            people=people.PEOPLE,
            regulars=people.REGULARS,
        )
        write_vendor_day(tmp_path, day, today, rows=20)
    assert len(people.REGULARS) >= 3
    for day in days:
        stamp = f"{day:%Y%m%d}"
        notified = _rows(tmp_path / "attentive" / f"attentive_email_SMS_{stamp}.csv", ",")
        subscribers = _rows(tmp_path / "postscript" / f"postscript_dim_subscribers_{stamp}.csv")
        messages = _rows(tmp_path / "postscript" / f"postscript_fct_messages_{stamp}.csv")
        calls = _rows(_one(tmp_path / "asapp" / "out", f"asapp_call_metadata_{stamp}"), ",")
        for p in people.REGULARS:
            phone, client = f"+1{2012000000 + p}", f"c{p}"
            # Attentive: a notification linking the regular's phone (or email) to the client id
            assert any(r["client_id"] == client for r in notified), (day, p)
            assert any(r["phone"] == phone or r["email"] == f"user{p}@example.com"
                       for r in notified if r["client_id"] == client), (day, p)  # fmt: skip
            # Postscript: the subscriber with the regular's phone, and a message of theirs
            digits = str(2012000000 + p)
            national = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
            assert {"SUBSCRIBER_ID": f"sub-{p}", "PHONE_NUMBER": national}.items() <= next(
                r for r in subscribers if r["SUBSCRIBER_ID"] == f"sub-{p}"
            ).items(), (day, p)
            assert any(r["SUBSCRIBER_ID"] == f"sub-{p}" for r in messages), (day, p)
            # ASAPP: a call under the hashed client id
            hashed = hashlib.md5(client.encode()).hexdigest()
            assert any(r["customer_id"] == hashed for r in calls), (day, p)
            # Accengage, every app: the regular's device reacted, under their member id
            for app, member_header in DEMO_APPS.items():
                reactions = _rows(
                    _one(tmp_path / "accengage", f"exportDevicesReactions_{app}_{stamp}"), ";"
                )
                assert any(
                    r["device_id"] == f"dev-{p}"
                    and r[member_header] == client
                    and r["reaction"] == "1"
                    and r["reaction_date"]
                    for r in reactions
                ), (day, app, p)
        # the regulars' keyed rows are their own: no other row of the day reuses their ids
        regular_ids = {r["MESSAGE_ID"] for r in messages if r["MESSAGE_ID"].startswith("mes-r")}
        assert len(regular_ids) == len(people.REGULARS)


def test_push_statistics_read_like_a_push_platform_report(tmp_path):
    """Per message and day: targets >= sends >= bounces, reactions <= the delivered (sends -
    bounces), bounce and reaction rates in the few percent a brand sees."""
    day = dt.date(2026, 11, 20)
    write_vendor_day(tmp_path, day, day + dt.timedelta(days=1), rows=200)
    for app in DEMO_APPS:
        stats = _rows(
            _one(tmp_path / "accengage", f"exportMessagesStatistics_{app}_{day:%Y%m%d}"), ";"
        )
        assert len(stats) == 200
        sums = dict.fromkeys(("targets", "sent", "bounces", "reactions"), 0)
        for r in stats:
            targets, sent = int(r["number_of_targets"]), int(r["number_of_messages_sent"])
            bounces, reactions = int(r["number_of_bounces"]), int(r["number_of_reactions"])
            assert targets >= sent >= bounces >= 0 and 0 <= reactions <= sent - bounces
            for name, value in zip(sums, (targets, sent, bounces, reactions), strict=True):
                sums[name] += value
        assert 0.01 <= sums["bounces"] / sums["sent"] <= 0.04
        assert 0.01 <= sums["reactions"] / (sums["sent"] - sums["bounces"]) <= 0.08
