"""The mart registry: every mart builds (from an empty warehouse and from the demo races),
returns exactly its declared columns and passes its declared checks."""

from __future__ import annotations

import pytest

from racecramp.landing.kinds import ANALYST_TABLES
from racecramp.marts.build import build_marts
from racecramp.marts.checks import check_mart, check_marts
from racecramp.marts.registry import MARTS, STATE_INPUTS, build_order, downstream, published_marts
from racecramp.publish.snapshots import load_snapshot
from racecramp.warehouse.mart_io import load_inputs
from racecramp.warehouse.writer import open_writer


def test_every_input_is_an_analyst_table_a_state_input_or_an_earlier_mart():
    seen: set[str] = set()
    for mart in build_order():
        for name in mart.inputs:
            assert name in ANALYST_TABLES or name in STATE_INPUTS or name in seen, (mart.name, name)
        seen.add(mart.name)
    assert seen == set(MARTS)


def test_every_mart_declares_a_grain_among_its_columns_and_a_description():
    for mart in MARTS.values():
        assert mart.description and mart.grain and set(mart.grain) <= set(mart.schema), mart.name
        assert all(c.description for c in mart.columns), mart.name
        for low, estimate, high in mart.intervals:
            assert {low, high, *([estimate] if estimate else [])} <= set(mart.schema), (mart.name, low, high)


def test_a_change_to_reports_recomputes_the_report_marts_but_not_the_slowdown_ones():
    stale = downstream({"cramp_reports"})
    assert {"cramp_rate_by_station", "station_load_15m", "alerts", "runner_status"} <= stale
    assert not {"late_slowdown_by_edition", "weather_heat", "exposure", "survey_risk_factors"} & stale


def test_every_mart_builds_from_an_empty_warehouse_and_passes_its_checks(tmp_path):
    with open_writer(tmp_path / "warehouse.duckdb") as con:
        tables = load_inputs(con)
    marts = build_marts(tables)
    assert set(marts) == set(MARTS)
    for name, frame in marts.items():
        assert frame.height == 0 and frame.schema == MARTS[name].schema, name
        assert check_mart(MARTS[name], frame) == [], name


def test_every_published_mart_passes_its_checks_on_the_boston_2017_and_2018_demo(demo_settings):
    snapshots = demo_settings.snapshot_dir
    frames = {name: load_snapshot(snapshots, name) for name in published_marts()}
    assert all(frame is not None for frame in frames.values()), [n for n, f in frames.items() if f is None]
    races = set(load_snapshot(snapshots, "races")["race_id"])
    assert races == {"boston-2017", "boston-2018"}
    for name in ("cramp_rate_by_station", "runner_status", "station_forecast", "cramp_rate_by_wbgt"):
        assert set(frames[name]["race_id"]) == races, name  # both races are really in the marts checked
    failures = check_marts(frames, load_snapshot(snapshots, "course_points"))
    assert failures == [], "\n".join(f.describe() for f in failures)


@pytest.mark.parametrize("name", sorted(MARTS))
def test_the_builder_returns_the_declared_columns_and_types_on_the_demo(demo_settings, name):
    with open_writer(demo_settings.warehouse_path) as con:
        tables = load_inputs(con)
    frame = build_marts(tables, only=[name])[name]
    assert frame.schema == MARTS[name].schema
