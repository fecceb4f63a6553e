"""Issue 8 acceptance: the season flow on a real 2-process Dask cluster equals the single-process result."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from racecramp.cli.season import load_season_flow
from racecramp.season.generate import generate_season
from racecramp.season.run import SEASON_OUTPUTS, season_single_process

pytestmark = pytest.mark.integration


def test_season_on_a_two_worker_dask_cluster_equals_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    root = str(tmp_path / "season")
    race_ids = generate_season(root, editions=5, runners=3000, seed=11)
    flow = load_season_flow()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Prefect keeps the settings it read when first imported: an earlier test that pointed
    # PREFECT_API_URL at its (now stopped) stack would still be in force here
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert not PREFECT_API_URL.value()
        written = flow.run_season(root, str(tmp_path / "out"), address="", workers=2)
    assert sorted(written) == sorted(str(tmp_path / "out" / f"{n}.parquet") for n in SEASON_OUTPUTS)
    single = season_single_process(root)
    for name in SEASON_OUTPUTS:
        assert_frame_equal(pl.read_parquet(tmp_path / "out" / f"{name}.parquet"), single[name])
    editions = single["season_editions"]
    assert editions["race_id"].to_list() == race_ids
    assert editions["starters"].to_list() == [3000] * 5 and editions["simulated"].all()
    # every edition's runner-station passings land in some WBGT band, none lost in pooling
    assert single["season_cramp_rate_by_wbgt"]["runners"].sum() > 0
    assert single["season_cramp_rate_by_pace_group"].filter(pl.col("grouping") == "declared_pace")["runners"].sum() == 15_000
