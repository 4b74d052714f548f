"""Deliveries' safe defaults (issue "Outbound exactly once"): a relation's duplicate rows give one
deterministic file (identical rows collapsed and counted; rows of one key that differ refused),
a day without rows sends no Accengage file unless an empty static list is explicitly allowed,
and nothing that sends to a vendor runs by default. Real sshd, real DuckDB file."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES
from platform_assets_tests.deliveries import (
    DAY,
    failure_message,
    insert_orders,
    read_csv,
    run,
    sql,
)

STATIC = dg.AssetKey(["sftp", "accengage", "delivered", "sms_converters"])  # every app
UPDATES_IOS = dg.AssetKey(["sftp", "accengage", "delivered", "update_devices_ios"])
AT = dt.datetime(2026, 10, 5, 9)


def materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dg.AssetMaterialization:
    [event] = [
        e.step_materialization_data.materialization
        for e in result.get_asset_materialization_events()
        if e.step_materialization_data.materialization.asset_key == key
    ]
    return event


def test_identical_rows_are_collapsed_and_counted(delivery_env, warehouse):
    row = (DAY, "ios", "c1", AT, 1.0, "attentive")
    insert_orders(warehouse, [row, row, row, (DAY, "ios", "c2", AT, 2.0, "postscript")])
    result = run("accengage_deliveries_job", assets=[UPDATES_IOS])
    assert result.success, failure_message(result)
    lines = read_csv(delivery_env / "updateDevices_ios_20261005.csv", ";")
    assert [r[0] for r in lines[1:]] == ["c1", "c2"]  # one line per device
    assert materialization(result, UPDATES_IOS).metadata["duplicates_collapsed"].value == 2


def test_rows_of_one_key_that_differ_are_refused_never_picked_at_random(delivery_env, warehouse):
    # c1 twice on the same (latest) day with different values: which one is meant?
    insert_orders(
        warehouse,
        [(DAY, "ios", "c1", AT, 1.0, "attentive"), (DAY, "ios", "c1", AT, 9.0, "postscript")],
    )
    for key in (STATIC, UPDATES_IOS):
        result = run("accengage_deliveries_job", assets=[key])
        assert not result.success
        message = failure_message(result)
        assert "1 key(s) (member_id) have rows that differ" in message, message
        assert "nothing was sent" in message
    assert list(delivery_env.iterdir()) == []


def test_a_day_without_rows_sends_no_accengage_file_unless_allowed(
    delivery_env, warehouse, monkeypatch
):
    # a row on another app only: ios has none that day
    insert_orders(warehouse, [(DAY, "android", "c9", AT, 1.0, "attentive")])
    result = run("accengage_deliveries_job", assets=[STATIC, UPDATES_IOS])
    assert result.success, failure_message(result)
    names = sorted(p.name for p in delivery_env.iterdir())
    # android's static list went; ios's empty list would have emptied it at Accengage: not sent
    assert names == [
        "staticlist_smsconverters_android_20261005000000.csv",
        "staticlist_smsconverters_android_20261005000000.txt",
    ]
    static = materialization(result, STATIC).metadata
    assert static["not_sent_empty"].value == "staticlist_smsconverters_ios_20261005000000.csv"
    assert materialization(result, UPDATES_IOS).metadata["not_sent_empty"].value == (
        "updateDevices_ios_20261005.csv"
    )
    recorded = sql(warehouse, "SELECT file_name FROM platform.deliveries ORDER BY 1")
    assert recorded == [("staticlist_smsconverters_android_20261005000000.csv",)]
    # the brand says an empty list is meant (it empties the list at Accengage): sent
    monkeypatch.setenv("ACCENGAGE_ALLOW_EMPTY_STATIC_LISTS", "true")
    assert run("accengage_deliveries_job", assets=[STATIC, UPDATES_IOS]).success
    empty = read_csv(delivery_env / "staticlist_smsconverters_ios_20261005000000.csv", ";")
    assert len(empty) == 1  # the header only
    assert not (delivery_env / "updateDevices_ios_20261005.csv").exists()  # never: no change


def test_nothing_that_sends_to_a_vendor_runs_by_default(delivery_env, monkeypatch):
    monkeypatch.setenv("ATTENTIVE_API_TOKEN", "t")
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env())
    sending = {
        "deliveries_automation_sensor": defs.resolve_sensor_def("deliveries_automation_sensor"),
        "loyalty_schedule": defs.resolve_schedule_def("loyalty_schedule"),
    }
    for name, definition in sending.items():
        assert definition.default_status.value == "STOPPED", name
    # and every sensor or schedule whose runs would reach an outbound asset is stopped too
    graph = defs.resolve_asset_graph()
    outbound = {
        k for k in graph.get_all_asset_keys() if graph.get(k).tags.get("direction") == "outbound"
    }
    repo = defs.get_repository_def()
    checked = set()
    for instigator in [*repo.sensor_defs, *repo.schedule_defs]:
        selection = getattr(instigator, "asset_selection", None)
        if selection is not None:
            keys = selection.resolve(graph)
        else:
            jobs = (
                [t.job_name for t in instigator.targets]
                if isinstance(instigator, dg.SensorDefinition)
                else [instigator.job_name]
            )
            keys = {k for j in jobs for k in repo.get_job(j).asset_layer.selected_asset_keys}
        if keys & outbound:
            checked.add(instigator.name)
            assert instigator.default_status.value == "STOPPED", instigator.name
    assert set(sending) <= checked


def test_the_files_key_is_the_matching_keys_it_carries_under_their_headers():
    from platform_assets.core.deliveries import DeviceUpdates, FileStyle

    style = FileStyle(";", True, "", "local", "Europe/Paris", marker=True)
    spec = DeviceUpdates(
        vendor="accengage", name="updates", description="", file_name="u_{app-id}.csv",
        style=style, keys=("member_id", "device_id"), custom_fields=("tier",),
    )  # fmt: skip
    # both keys carried, member_id under the app's own header
    assert spec.file_key(["client_ref", "device_id", "tier"], "client_ref") == [
        "client_ref",
        "device_id",
    ]
    # no row had a device id: the column is left out, and so is it from the key (never "tier")
    assert spec.file_key(["client_ref", "tier"], "client_ref") == ["client_ref"]
