"""`racecramp demo` (what `make demo` runs): the stack plus a live replay.

1. New tokens for the command, the feeds and every station of Boston 2017 are made at each
   start and their hashes registered in the token register (intake.tokens); the plaintext
   stays in memory (the replay posts with it), the command token goes to the dashboard
   (RACECRAMP_COMMAND_TOKEN) and one station token is printed to try Station entry with.
2. Boston 2018, the earlier edition to compare with, is loaded in bulk with SIMULATED cramp
   reports and survey answers (`load_demo`).
3. `racecramp serve` starts (Prefect server, served flows, intake, dashboard) and Boston
   2017 is replayed through the intake at 60x (`racecramp replay`).

Everything goes through landing -> validation -> the single writer like any import.
"""

from __future__ import annotations

import polars as pl
import typer

from racecramp import landing
from racecramp.cli.common import console, err_console, get_settings
from racecramp.config import Settings
from racecramp.data import data_dir
from racecramp.landing.bulk import import_race, import_results, import_weather, ingest_now
from racecramp.warehouse.mart_io import load_inputs
from racecramp.warehouse.writer import open_writer

DATA = data_dir()
DEMO_RACES = ("boston-2017", "boston-2018")
DEMO_SEED = 2017
LIVE_RACE = "boston-2017"  # replayed live by `racecramp demo`
EARLIER_EDITIONS = ("boston-2018",)  # loaded in bulk beside it, for comparison
TRY_STATION = "aid-20mi"  # its token is printed, to try Station entry with


def demo_tokens(settings: Settings, say=print) -> dict[str, str]:
    """New tokens for the live race's principals (old demo tokens revoked), plaintext in memory only.

    A command token in RACECRAMP_COMMAND_TOKEN that the intake accepts is kept (not re-made)."""
    import os

    from racecramp.config import COMMAND_TOKEN_ENV
    from racecramp.domain import COMMAND, station_principal
    from racecramp.intake.auth import AuthError
    from racecramp.intake.tokens import issue_tokens, live_tokens
    from racecramp.simulate.replay import race_principals
    from racecramp.sources.race import read_race

    principals = race_principals(*read_race(DATA / "races" / f"{LIVE_RACE}.toml"))
    given = os.environ.get(COMMAND_TOKEN_ENV)
    try:
        given = given if given and live_tokens(settings).principal(given).is_command else None
    except AuthError:
        given = None
    tokens = issue_tokens(settings, [p for p in principals if not (given and p == COMMAND)], replace=True)
    if given:
        tokens[COMMAND] = given
    os.environ[COMMAND_TOKEN_ENV] = tokens[COMMAND]
    volunteer = station_principal(LIVE_RACE, TRY_STATION)
    say(f"demo tokens registered in {settings.token_register_path} (new at every start); to try Station entry "
        f"as {volunteer}: {tokens[volunteer]}")
    return tokens


def load_demo(settings: Settings, say=print, races: tuple[str, ...] = DEMO_RACES) -> None:
    """Import the demo races and land their simulated cramp reports and surveys (bulk)."""
    from racecramp.marts.heat import with_heat
    from racecramp.simulate.stream import simulate_race

    for race_id in races:
        say(f"importing {race_id} (race, results, weather) ...")
        import_race(settings, DATA / "races" / f"{race_id}.toml", ingest=False)
        import_results(settings, DATA / race_id / "results.csv", race_id, ingest=False)
        import_weather(settings, DATA / "weather" / "boston_hourly.csv", race_id, ingest=False)
    ingest_now(settings)
    for race_id in races:
        with open_writer(settings.warehouse_path) as con:
            inputs = load_inputs(con, race_id)
        weather = with_heat(inputs["weather_observations"].filter(pl.col("race_id") == race_id).lazy()).collect()
        course = inputs["course_points"].with_columns(pl.col("km").cast(pl.Float64))
        sim = simulate_race(inputs["participants"], inputs["passings"], course, weather, seed=DEMO_SEED)
        say(f"{race_id}: {sim.cramp_reports.height} SIMULATED cramp reports, {sim.survey_responses.height} SIMULATED survey answers")
        declared = sim.participants.with_columns(pl.lit(False).alias("simulated"), pl.lit(True).alias("declared_is_synthetic"))
        landing.append_frame(settings.landing_dir, "participants", declared.select(inputs["participants"].drop("age_band", "wave_start_utc").columns), source=f"simulator:{race_id}")
        landing.append_frame(settings.landing_dir, "reports", sim.cramp_reports, source=f"simulator:{race_id}")
        landing.append_frame(settings.landing_dir, "survey", sim.survey_responses, source=f"simulator:{race_id}")
    summary = ingest_now(settings)
    say(f"merged: {summary.accepted} accepted, {summary.quarantined} quarantined; marts published to {settings.snapshot_dir}")


def demo(
    speed: float = typer.Option(60.0, "--speed", help="replay speed (race seconds per wall second)"),
    replay_live: bool = typer.Option(True, "--replay/--bulk", help="replay Boston 2017 live (default) or load it in bulk"),
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="start the stack (with --bulk: after loading)"),
):
    """The demo: Boston 2018 in bulk, then the stack and a live replay of Boston 2017 at 60x,
    with SIMULATED cramp reports and survey answers."""
    from racecramp.cli.drill import run_replay
    from racecramp.cli.stack import serve
    from racecramp.orchestration import supervisor as services
    from racecramp.simulate.replay import ReplayError

    if replay_live and not serve_after:
        err_console.print("[red]--no-serve goes with --bulk[/red]: a live replay needs the stack running")
        raise typer.Exit(2)
    settings = get_settings()
    tokens = demo_tokens(settings, say=console.print)
    if not replay_live:
        load_demo(settings, say=console.print, races=DEMO_RACES)
        if serve_after:
            serve(no_dashboard=False)
        return
    load_demo(settings, say=console.print, races=EARLIER_EDITIONS)
    console.print("starting racecramp (Prefect server, flows, intake, dashboard) ...")
    stack = services.start_stack(settings, with_dashboard=True)
    try:
        urls = stack.urls()
        for name, url in urls.items():
            console.print(f"  {name:10s} {url}")
        if "dashboard" in urls:
            console.print(f"[bold green]open the dashboard: {urls['dashboard']}[/bold green]")
        try:
            run_replay(settings, LIVE_RACE, speed, DEMO_SEED, None, None, None, tokens, True)
        except ReplayError as exc:
            err_console.print(f"[red]replay stopped:[/red] {exc}")
        console.print(f"replay finished; the stack keeps running (dashboard {urls.get('dashboard', '-')}); Ctrl-C to stop")
    except KeyboardInterrupt:
        services.stop_stack(stack)
        raise typer.Exit(130) from None
    raise typer.Exit(services.run_forever(stack, on_event=lambda msg: err_console.print(f"[yellow]{msg}[/yellow]")))


def register(app: typer.Typer) -> None:
    app.command()(demo)
