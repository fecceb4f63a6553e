"""Issue 16: a race that is not Boston, from nothing to a running stack, as docs/setup.md says.

A GPX loop and a per-segment export of a layout the project has no mapping for
(tests/new_race_kit.py): `race new`, `mapping draft` (imported with NO edits), `import race`,
`import results --dry-run` then `import results`, `import weather`, a replay of its own results
through the live stack (real Prefect server, served ingest, uvicorn intake), the Course page's
data (views) and the post-race report.
"""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest
from typer.testing import CliRunner

from racecramp.cli import app
from racecramp.publish.snapshots import read_snapshot
from racecramp.report.write import write_report
from racecramp.simulate import replay
from racecramp.views import course as course_views

from new_race_kit import HAND_NET_S, RACE_ID, RACE_NAME, race_new_args, spreewald_gpx, spreewald_results, spreewald_weather
from stack import replay_stack, wait_for_counts

pytestmark = pytest.mark.integration

SEED = 26
TABLES = {"participants": "participants", "passings": "passings", "weather": "weather_observations",
          "reports": "cramp_reports", "survey": "survey_responses"}


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The organiser's files and the race folder `race new` wrote, and the drafted mapping (unedited)."""
    root = tmp_path_factory.mktemp("spreewald")
    gpx, results, weather = spreewald_gpx(root / "loop.gpx"), spreewald_results(root / "results.csv"), spreewald_weather(root / "weather.csv")
    _cli(*race_new_args(gpx, root / "race"))
    race_file = root / "race" / f"{RACE_ID}.toml"
    _cli("mapping", "draft", str(results), "--race-file", str(race_file), "--out", str(root / "mapping.toml"))
    return {"race": race_file, "results": results, "weather": weather, "mapping": root / "mapping.toml", "root": root}


@pytest.fixture(scope="module")
def source(files):
    return replay.load_source(files["race"], files["results"], files["weather"], files["mapping"])


@pytest.fixture(scope="module")
def live(files, source):
    with replay_stack(files["root"] / "stack", source) as running:
        yield running



def test_a_new_race_runs_through_every_command(files, source, live):
    settings, tokens = live
    _cli("import", "race", str(files["race"]))
    dry = _cli("import", "results", str(files["results"]), "--race", RACE_ID, "--mapping", str(files["mapping"]), "--dry-run")
    assert "nothing landed" in dry and read_snapshot(settings.snapshot_dir, "participants").height == 0
    _cli("import", "results", str(files["results"]), "--race", RACE_ID, "--mapping", str(files["mapping"]))
    _cli("import", "weather", str(files["weather"]), "--race", RACE_ID)

    participants = read_snapshot(settings.snapshot_dir, "participants").filter(pl.col("race_id") == RACE_ID)
    quarantine = read_snapshot(settings.snapshot_dir, "quarantine")
    assert quarantine.height == 0, quarantine["message"].to_list()[:3]
    assert participants.height == 93  # 3 hand rows + 90 invented, every one accepted
    hand = participants.filter(pl.col("bib") == "7").row(0, named=True)
    assert hand["official_time_s"] == HAND_NET_S["7"] and hand["sex"] == "F" and hand["age"] == 2026 - 1984
    assert hand["wave"] == 1 and participants.filter(pl.col("bib") == "60")["wave"].item() == 2
    assert not participants.filter(pl.col("bib").is_in(["8", "9"]))["finished"].any()  # DNF and DSQ

    # a short replay of the race's own results through the live stack
    events = replay.build_events(source, SEED)
    sender = replay.IntakeSender(f"http://{settings.intake_host}:{settings.intake_port}", tokens)
    sender.check_tokens(events)
    try:
        replay.run(events, sender.send, speed=0)
    finally:
        sender.close()
    sent = Counter(kind for _, kind, _ in events)
    assert sent["reports"] > 0 and sent["passings"] > 0
    wait_for_counts(settings, {"cramp_reports": sent["reports"], "survey_responses": sent["survey"]}, timeout_s=240,
                    marts_current=True)  # the rate marts are rebuilt behind the counts (publish.publisher.LiveCycle)

    snaps = {name: read_snapshot(settings.snapshot_dir, name) for name in
             ("course_points", "course_track", "cramp_rate_by_station", "station_forecast", "runner_status")}
    view = course_views.course_view(snaps["course_points"], snaps["cramp_rate_by_station"], snaps["station_forecast"],
                                    snaps["runner_status"], RACE_ID)
    assert set(view["point_id"]) >= {"aid-05k", "aid-40k", "med-finish"} and view["cases"].sum() > 0
    course_map = course_views.course_map(snaps["course_track"], view, snaps["course_points"], snaps["runner_status"], RACE_ID)
    assert course_map is not None and course_map.route["bin"].n_unique() == 43  # 42 whole km and the last 195 m
    assert course_map.stations["lat"].is_between(51.79, 51.89).all()

    written = write_report(settings, RACE_ID, ("html",), files["root"] / "reports")
    page = written.files["html"].read_text(encoding="utf-8")
    assert RACE_NAME in page and "SIMULATED" in page.upper()
