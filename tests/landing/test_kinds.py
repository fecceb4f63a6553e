"""The landing-kind registry: every kind has its model, its table, its snapshot and who may send it."""

from __future__ import annotations

import polars as pl

from racecramp.domain import COMMAND, FEED_PRINCIPALS, STATION
from racecramp.landing.kinds import ANALYST_TABLES, KINDS, merge_order
from racecramp.publish.snapshots import load_snapshot
from racecramp.validation.schemas import kind_schema
from racecramp.warehouse.sql import describe
from racecramp.warehouse.writer import open_writer

KNOWN_PRINCIPALS = {COMMAND, STATION, *FEED_PRINCIPALS}


def test_every_kind_has_a_model_a_table_a_snapshot_and_principals(demo_settings):
    with open_writer(demo_settings.warehouse_path) as con:
        for kind in KINDS.values():
            assert set(kind.principals) <= KNOWN_PRINCIPALS, kind.name
            assert set(kind.natural_key) <= set(kind.table_schema), kind.name
            if kind.name not in ("races", "results"):  # races are checked in code, results split into two kinds
                schema = kind_schema(kind.name)
                assert set(schema.columns) == set(kind.schema), kind.name
            tables = [kind.staging_table] if kind.staging_table else [KINDS[k].staging_table for k in kind.merges_into]
            for table in tables:
                assert [c[0] for c in describe(con, table)], (kind.name, table)
            if kind.view is not None:
                assert kind.view in ANALYST_TABLES
                assert load_snapshot(demo_settings.snapshot_dir, kind.view) is not None, kind.view
                assert [c[0] for c in describe(con, kind.view)] == list(kind.table_schema), kind.view


def test_http_kinds_name_the_principals_that_send_them_and_command_may_send_each():
    for name in ("participants", "passings", "weather", "reports", "survey", "alert_actions", "race_closures"):
        assert COMMAND in KINDS[name].principals, name
    assert STATION in KINDS["reports"].principals and STATION not in KINDS["passings"].principals
    for name in ("races", "course_points", "results"):
        assert KINDS[name].principals == (), name  # the CLI only


def test_reference_kinds_merge_before_the_records_that_need_them():
    assert merge_order("races") < merge_order("course_points") < merge_order("participants") < merge_order("passings")
    assert merge_order("participants") < merge_order("reports")


def test_a_flag_a_record_leaves_out_takes_its_default():
    assert KINDS["reports"].defaults == {"simulated": False}
    assert pl.Boolean == KINDS["weather"].schema["interpolated"]
