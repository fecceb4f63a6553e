"""`racecramp` command line: thin typer commands over the library, rich output."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from racecramp.config import Settings, SettingsError, load_settings
from racecramp.cli.report import register as register_report_commands
from racecramp.cli.season import register as register_season_commands

app = typer.Typer(help="racecramp: cramp monitoring for marathon medical teams.", no_args_is_help=True, pretty_exceptions_show_locals=False)
import_app = typer.Typer(help="Import a file through landing -> validation -> warehouse.", no_args_is_help=True)
app.add_typer(import_app, name="import")
console = Console()
err_console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err_console.print(f"[red]settings error:[/red] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _steps(total: int) -> Iterator[tuple[Progress, int]]:
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err_console, transient=False,
    ) as progress:
        task = progress.add_task("starting", total=total)
        yield progress, task


def _print_summary(result) -> None:
    summary = result.summary
    table = Table(title=f"import {result.kind}: {result.path.name}")
    table.add_column("landed", justify="right")
    table.add_column("accepted", justify="right")
    table.add_column("quarantined", justify="right")
    if summary is None:
        table.add_row(str(result.landed_rows), "-", "-")
    else:
        table.add_row(str(result.landed_rows), str(summary.accepted), str(summary.quarantined))
    console.print(table)
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    if summary is not None and summary.quarantined:
        reasons = Table(title="top quarantine reasons")
        reasons.add_column("check")
        reasons.add_column("records", justify="right")
        for reason, count in summary.top_reasons():
            reasons.add_row(reason, str(count))
        console.print(reasons)
        console.print("[dim]see every reason with: racecramp sql -c \"SELECT message FROM quarantine\"[/dim]")


def _run_import(description: str, fn, *args, **kwargs):
    from racecramp.landing import bulk as imports

    with _steps(3) as (progress, task):
        progress.update(task, description=f"reading and landing {description}")
        result = fn(*args, ingest=False, **kwargs)
        progress.update(task, advance=1, description="validating and merging")
        settings = args[0]
        result.summary = imports.ingest_now(
            settings, progress=lambda b: progress.update(task, description=f"merged {b.kind} batch: {b.accepted} accepted, {b.quarantined} quarantined")
        )
        progress.update(task, advance=2, description="published snapshots")
    _print_summary(result)
    return result


@import_app.command("race")
def import_race(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="race TOML, e.g. data/races/boston-2017.toml")):
    """A race edition: its date, time zone, start waves and course points."""
    from racecramp.landing import bulk as imports

    _run_import(f"race {path.name}", imports.import_race, _settings(), path)


@import_app.command("results")
def import_results(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    race: str = typer.Option(..., "--race", help="race_id, e.g. boston-2017 (import the race first)"),
    mapping: str = typer.Option("boston", "--mapping", help="built-in mapping name or a TOML file"),
):
    """A results CSV (participants and their splits) through a declarative column mapping."""
    from racecramp.landing import bulk as imports

    _run_import(f"results {path.name}", imports.import_results, _settings(), path, race, mapping=mapping)


@import_app.command("weather")
def import_weather(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    race: Optional[str] = typer.Option(None, "--race"),
    fmt: str = typer.Option("auto", "--format", help="auto | visualcrossing-json | visualcrossing-csv | iem-asos"),
    mapping: Optional[str] = typer.Option(None, "--mapping", help="unused for weather (formats are built in)"),
):
    """Weather observations: Visual Crossing JSON/CSV or Iowa Mesonet ASOS/METAR CSV."""
    from racecramp.landing import bulk as imports

    _run_import(f"weather {path.name}", imports.import_weather, _settings(), path, race, fmt=fmt)


@import_app.command("reports")
def import_reports(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    race: str = typer.Option(..., "--race"),
    mapping: str = typer.Option("reports", "--mapping", help="built-in mapping name or a TOML file"),
):
    """Cramp reports from a CSV log (paper log typed into a spreadsheet)."""
    from racecramp.landing import bulk as imports

    _run_import(f"reports {path.name}", imports.import_tabular, _settings(), path, race, mapping)


@import_app.command("survey")
def import_survey(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    race: str = typer.Option(..., "--race"),
    mapping: str = typer.Option("survey", "--mapping", help="built-in mapping name or a TOML file"),
):
    """Finisher-survey responses from a survey tool's CSV export."""
    from racecramp.landing import bulk as imports

    _run_import(f"survey {path.name}", imports.import_tabular, _settings(), path, race, mapping)


@app.command()
def ingest():
    """Merge everything pending in the landing zone and publish snapshots."""
    from racecramp.landing import bulk as imports

    summary = imports.ingest_now(_settings())
    console.print(f"{len(summary.batches)} batches: {summary.accepted} accepted, {summary.quarantined} quarantined")


@app.command()
def marts(check: bool = typer.Option(False, "--check", help="only check the published marts; exit 1 naming mart, check and rows")):
    """Recompute and publish every mart from the warehouse, then check them (marts.checks)."""
    from racecramp.marts.checks import check_marts
    from racecramp.marts.registry import published_marts
    from racecramp.publish.snapshots import load_snapshot

    settings = _settings()
    if not check:
        from racecramp.publish.publisher import publish_after_ingest
        from racecramp.warehouse.writer import open_writer

        with open_writer(settings.warehouse_path) as con:
            manifest = publish_after_ingest(con, settings, None)
        console.print(f"published {len(manifest['tables'])} tables to {settings.snapshot_dir}")
    frames = {name: load_snapshot(settings.snapshot_dir, name) for name in published_marts()}
    missing = [name for name, frame in frames.items() if frame is None]
    if check and len(missing) == len(frames):
        err_console.print(f"[red]no marts published in {settings.snapshot_dir}[/red]: run `racecramp marts` first")
        raise typer.Exit(1)
    failures = check_marts(frames, load_snapshot(settings.snapshot_dir, "course_points"))
    for failure in failures:
        err_console.print("[red]FAIL[/red] " + escape(failure.describe()), highlight=False)
    checked = len(frames) - len(missing)
    if failures:
        err_console.print(f"{len(failures)} check(s) failed in {len({f.mart for f in failures})} of {checked} marts")
        raise typer.Exit(1)
    console.print(f"checks passed: {checked} marts" + (f" ({', '.join(missing)} not published)" if missing else ""))


@app.command()
def sql(
    command: Optional[str] = typer.Option(None, "-c", "--command", help="one query; without it, an interactive session"),
    csv: bool = typer.Option(False, "--csv", help="print CSV instead of a table"),
):
    """Query the read replica (never the live warehouse) with DuckDB SQL."""
    import duckdb

    settings = _settings()
    replica = Path(settings.replica_path)
    if not replica.exists():
        err_console.print(f"[red]no replica at {replica}[/red]: import data or run `racecramp marts` first")
        raise typer.Exit(1)
    con = duckdb.connect(str(replica), read_only=True)
    try:
        if command is not None:
            _print_query(con, command, csv)
            return
        console.print("racecramp sql (read-only replica). Tables: " + ", ".join(
            r[0] for r in con.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()))
        console.print("End with Ctrl-D.")
        buffer = ""
        while True:
            try:
                line = input("sql> " if not buffer else "...> ")
            except EOFError:
                break
            buffer += line + "\n"
            if buffer.strip().endswith(";"):
                try:
                    _print_query(con, buffer, csv)
                except duckdb.Error as exc:
                    err_console.print(f"[red]{exc}[/red]")
                buffer = ""
    finally:
        con.close()


def _print_query(con, query: str, as_csv: bool) -> None:
    import duckdb

    try:
        if as_csv:  # DuckDB's CSV writer also formats nested columns (lists, structs)
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "result.csv"
                con.execute(f"COPY ({query.strip().rstrip(';')}) TO '{out}' (FORMAT csv, HEADER)")
                sys.stdout.write(out.read_text())
            return
        frame = con.sql(query).pl()
    except duckdb.Error as exc:
        err_console.print(f"[red]{type(exc).__name__}:[/red] {exc}")
        raise typer.Exit(1) from None
    table = Table(show_lines=False)
    for col in frame.columns:
        table.add_column(col)
    for row in frame.head(200).iter_rows():
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)
    if frame.height > 200:
        console.print(f"[dim]{frame.height} rows; first 200 shown (use --csv for all)[/dim]")



@app.command()
def intake():
    """Run the HTTP intake (FastAPI on uvicorn) on the configured loopback port."""
    from racecramp.orchestration.prefect_events import landing_appended
    from racecramp.intake.app import run_intake

    run_intake(_settings(), on_appended=landing_appended)


@app.command()
def serve(no_dashboard: bool = typer.Option(False, "--no-dashboard", help="do not start the Streamlit dashboard")):
    """Start the Prefect server, the served flows, the intake and the dashboard; Ctrl-C stops all."""
    from racecramp.orchestration import supervisor as services

    settings = _settings()
    console.print("starting racecramp (Prefect server, flows, intake, dashboard) ...")
    stack = services.start_stack(settings, with_dashboard=not no_dashboard)
    for name, url in stack.urls().items():
        console.print(f"  {name:10s} {url}")
    console.print(f"logs in {Path(settings.data_dir) / 'logs'}; Ctrl-C to stop")
    code = services.run_forever(stack, on_event=lambda msg: err_console.print(f"[yellow]{msg}[/yellow]"))
    console.print("stopped")
    raise typer.Exit(code)


@app.command()
def status():
    """Health of each component, landing backlog, last ingest, last weather observation."""
    from datetime import UTC, datetime

    from racecramp.orchestration import drain as live
    from racecramp.orchestration import supervisor as services
    from racecramp.publish.snapshots import read_manifest, snapshot_path

    settings = _settings()
    table = Table(title="racecramp status")
    table.add_column("what")
    table.add_column("state")
    for name, state in services.component_health(settings).items():
        colour = "green" if state == "up" else "red"
        table.add_row(name, f"[{colour}]{state}[/{colour}]")
    table.add_row("landing backlog", f"{live.landing_backlog(settings)} batches not yet ingested")
    manifest = read_manifest(settings.snapshot_dir)
    table.add_row("last ingest", (manifest or {}).get("last_ingest_utc") or "never")
    weather = snapshot_path(settings.snapshot_dir, "weather_observations")
    if weather.exists():
        import polars as pl

        last = pl.read_parquet(weather).select(pl.col("observed_at_utc").max()).item()
        age = "" if last is None else f" ({(datetime.now(UTC) - last).total_seconds() / 60:.0f} min ago)"
        table.add_row("last weather observation", f"{last}{age}")
    else:
        table.add_row("last weather observation", "none")
    feed = live.read_status(settings, "weather_feed")
    if feed:
        table.add_row("weather feed", "ok" if feed.get("ok") else f"[red]failing[/red]: {'; '.join(feed.get('errors', []))}")
    console.print(table)



def _default_tokens_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "tokens.toml"


@app.command()
def tokens(
    race: str = typer.Option(..., "--race", help="race id with a race file in data/races, e.g. boston-2017"),
    out: Optional[Path] = typer.Option(None, "--out", help="plaintext tokens file (default: <data_dir>/tokens.toml)"),
):
    """Make bearer tokens for the command, the feeds and every station of a race; print the
    [token_hashes] block for racecramp.toml. Existing tokens in the file are kept."""
    from racecramp.config import hash_token
    from racecramp.data import data_dir
    from racecramp.simulate.replay import ReplayError, ensure_tokens, race_principals
    from racecramp.sources.race import read_race

    settings = _settings()
    path = out or _default_tokens_path(settings)
    race_file = data_dir() / "races" / f"{race}.toml"
    if not race_file.exists():
        err_console.print(f"[red]no race file[/red] {race_file}")
        raise typer.Exit(2)
    principals = race_principals(*read_race(race_file))
    try:
        made = ensure_tokens(path, principals)
    except ReplayError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    typer.echo(f"# plaintext tokens in {path} (mode 600): hand each station its own")
    typer.echo("[token_hashes]")
    for principal in principals:
        typer.echo(f'"{principal}" = "{hash_token(made[principal])}"')


@app.command()
def replay(
    race: str = typer.Option("boston-2017", "--race", help="a race shipped in data/ (race file, results, weather)"),
    speed: float = typer.Option(60.0, "--speed", help="race seconds per wall second; 0 = as fast as the intake takes it"),
    seed: int = typer.Option(2017, "--seed", help="simulator seed: the same seed sends a byte-identical stream"),
    intake_url: Optional[str] = typer.Option(None, "--intake", help="intake base URL (default: the configured loopback intake)"),
    to: Optional[Path] = typer.Option(None, "--to", help="write the stream to this folder instead of posting it"),
    from_file: Optional[Path] = typer.Option(None, "--from", exists=True, dir_okay=False, help="send a stream written by --to"),
    tokens_file: Optional[Path] = typer.Option(None, "--tokens", help="plaintext tokens (default: <data_dir>/tokens.toml)"),
    import_race: bool = typer.Option(True, "--import-race/--no-import-race", help="import the race definition first if the course lacks it"),
):
    """Re-run a real race with SIMULATED cramps through the intake at --speed x real time."""
    from racecramp.simulate.replay import ReplayError

    settings = _settings()
    try:
        _replay(settings, race, speed, seed, intake_url, to, from_file, tokens_file, import_race)
    except ReplayError as exc:
        err_console.print(f"[red]replay stopped:[/red] {exc}")
        raise typer.Exit(1) from None


def _replay(settings, race, speed, seed, intake_url, to, from_file, tokens_file, import_race) -> dict[str, int]:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from racecramp.simulate import replay as rp
    from racecramp.simulate.stream import stream_digest

    source = None
    if from_file is not None:
        events = rp.read_stream(from_file)
        zone = ZoneInfo("UTC")
        console.print(f"{len(events):,} events from {from_file}")
    else:
        console.print(f"reading {race} (race file, results, weather) and planting SIMULATED cramps (seed {seed}) ...")
        source = rp.load_source(race)
        events = rp.build_events(source, seed)
        zone = ZoneInfo(source.timezone)
    digest = stream_digest(events)
    console.print(f"{len(events):,} events, sha256 {digest[:16]}…  (SIMULATED cramp reports and survey answers)")
    if to is not None:
        stream, manifest = rp.write_stream(events, to, f"{race}-seed{seed}")
        console.print(f"wrote {stream} and {manifest}")
        return {}
    if source is not None and import_race and rp.ensure_race_published(settings, source):
        console.print(f"imported the race definition of {race}")
    tokens = rp.read_tokens(tokens_file or _default_tokens_path(settings))
    url = (intake_url or f"http://{settings.intake_host}:{settings.intake_port}").rstrip("/")
    sender = rp.IntakeSender(url, tokens)
    sender.check_tokens(events)
    span = events[-1][0] - events[0][0]
    if speed > 0:
        console.print(f"replaying {span} of race time at {speed:g}x: about {timedelta(seconds=round(span.total_seconds() / speed))} to {url}")
    with Progress(
        TextColumn("[bold]race clock {task.fields[clock]}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} events"),
        TimeElapsedColumn(), console=console,
    ) as progress:
        task = progress.add_task("replay", total=len(events), clock="--:--")

        def show(p: rp.ReplayProgress) -> None:
            progress.update(task, completed=p.sent_events, clock=p.race_clock_utc.astimezone(zone).strftime("%H:%M %Z"))

        try:
            wall_s = rp.run(events, sender.send, speed, on_progress=show)
        finally:
            sender.close()
    sent = dict(sorted(sender.sent.items()))
    console.print(f"sent in {wall_s:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in sent.items()) + f"; {sender.retries} retries")
    return sent


@app.command()
def demo(
    speed: float = typer.Option(60.0, "--speed", help="replay speed (race seconds per wall second)"),
    replay_live: bool = typer.Option(True, "--replay/--bulk", help="replay Boston 2017 live (default) or load it in bulk"),
    serve_after: bool = typer.Option(True, "--serve/--no-serve", help="start the stack (with --bulk: after loading)"),
):
    """The demo: Boston 2018 in bulk, then the stack and a live replay of Boston 2017 at 60x,
    with SIMULATED cramp reports and survey answers."""
    from racecramp.orchestration import supervisor as services
    from racecramp.cli.demo import DEMO_RACES, DEMO_SEED, EARLIER_EDITIONS, LIVE_RACE, demo_tokens, load_demo
    from racecramp.simulate.replay import ReplayError

    settings = _settings()
    demo_tokens(settings, say=console.print)
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
            _replay(settings, LIVE_RACE, speed, DEMO_SEED, None, None, None, None, True)
        except ReplayError as exc:
            err_console.print(f"[red]replay stopped:[/red] {exc}")
        console.print(f"replay finished; the stack keeps running (dashboard {urls.get('dashboard', '-')}); Ctrl-C to stop")
    except KeyboardInterrupt:
        services.stop_stack(stack)
        raise typer.Exit(130) from None
    raise typer.Exit(services.run_forever(stack, on_event=lambda msg: err_console.print(f"[yellow]{msg}[/yellow]")))


# Commands that live beside their feature (report and close-race; season and its generator).
register_report_commands(app, _settings)
register_season_commands(app, _settings)


if __name__ == "__main__":
    app()
