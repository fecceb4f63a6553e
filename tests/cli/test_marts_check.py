"""`racecramp marts --check` exits non-zero naming the mart, the check and the rows of a planted bad row."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

from racecramp.cli import app
from racecramp.publish.snapshots import snapshot_path, write_snapshot


@pytest.fixture
def published(demo_settings, tmp_path, monkeypatch):
    """A copy of the demo's snapshots, for planting bad rows in."""
    data_dir = tmp_path / "var"
    shutil.copytree(demo_settings.snapshot_dir, data_dir / "snapshots")
    monkeypatch.setenv("RACECRAMP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RACECRAMP_CONFIG", str(tmp_path / "racecramp.toml"))
    monkeypatch.setenv("COLUMNS", "400")
    return data_dir / "snapshots"


def _plant(snapshots, mart: str, change) -> None:
    path = snapshot_path(snapshots, mart)
    write_snapshot(change(pl.read_parquet(path)), path)


def _check() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["marts", "--check"])
    return result.exit_code, result.output


def test_the_published_demo_marts_pass(published):
    code, output = _check()
    assert code == 0 and "checks passed: 17 marts" in output


@pytest.mark.parametrize(
    ("mart", "change", "words"),
    [
        ("cramp_rate_by_station", lambda f: pl.concat([f, f.head(1)]), "cramp_rate_by_station: unique grain (race_id, point_id)"),
        ("cramp_rate_by_distance",
         lambda f: f.with_columns(pl.when(pl.col("cases") > 0).then(pl.col("rate_per_1000") + 1).otherwise("ci_low_per_1000")
                                  .alias("ci_low_per_1000")),
         "cramp_rate_by_distance: interval ci_low_per_1000 <= rate_per_1000 <= ci_high_per_1000"),
        ("weather_heat", lambda f: f.with_columns(pl.lit("purple").alias("wbgt_flag")), "weather_heat: accepted_values wbgt_flag"),
        ("runner_status", lambda f: f.with_columns(pl.lit("aid-99mi").alias("last_point_id")),
         "runner_status: point_on_course last_point_id"),
        ("alerts", lambda f: f.with_columns(pl.lit(None, pl.String).alias("message")) if f.height else
         pl.DataFrame({c: [None] for c in f.columns}, schema=f.schema), "alerts: not_null"),
        ("cramp_rate_by_pace_group", lambda f: f.with_columns(pl.lit("per 1000 starters").alias("rate_unit")),
         "cramp_rate_by_pace_group: row_rule rate_unit names what denominator_kind counts"),  # the roster holds finishers
        ("station_load_15m", lambda f: f.with_columns(pl.lit(0, pl.Int64).alias("runners_passed"), pl.lit(2.5).alias("expected")),
         "station_load_15m: row_rule nothing is expected where nobody passed"),
        ("cramp_rate_by_wbgt", lambda f: f.with_columns(pl.lit(0.0).alias("runner_hours")),
         "cramp_rate_by_wbgt: row_rule a band nobody spent time in has no runners and no rate"),
    ],
    ids=["duplicate-grain", "ci-low-above-rate", "unknown-flag", "point-off-course", "null-required", "unit-not-denominator",
         "expected-without-runners", "rate-without-hours"],
)
def test_a_planted_bad_row_fails_naming_mart_check_and_rows(published, mart, change, words):
    _plant(published, mart, change)
    code, output = _check()
    assert code == 1, output
    assert words in " ".join(output.split()), output
    assert any(f"{key}=" in output for key in ("race_id", "alert_id", "source"))  # the offending rows are shown
