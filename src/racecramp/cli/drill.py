"""`racecramp tokens` and `racecramp replay`: tokens for a race's stations and feeds, and a
drill that replays a real race with SIMULATED cramps through the intake."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from racecramp.cli.common import console, err_console, get_settings
from racecramp.config import Settings


def _default_tokens_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "tokens.toml"


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

    settings = get_settings()
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


def replay(
    race: str = typer.Option("boston-2017", "--race", help="a race shipped in data/ (race file, results, weather); see --race-file"),
    speed: float = typer.Option(60.0, "--speed", help="race seconds per wall second; 0 = as fast as the intake takes it"),
    seed: int = typer.Option(2017, "--seed", help="simulator seed: the same seed sends a byte-identical stream"),
    intake_url: Optional[str] = typer.Option(None, "--intake", help="intake base URL (default: the configured loopback intake)"),
    to: Optional[Path] = typer.Option(None, "--to", help="write the stream to this folder instead of posting it"),
    from_file: Optional[Path] = typer.Option(None, "--from", exists=True, dir_okay=False, help="send a stream written by --to"),
    tokens_file: Optional[Path] = typer.Option(None, "--tokens", help="plaintext tokens (default: <data_dir>/tokens.toml)"),
    import_race: bool = typer.Option(True, "--import-race/--no-import-race", help="import the race definition first if the course lacks it"),
    race_file: Optional[Path] = typer.Option(None, "--race-file", exists=True, dir_okay=False,
                                             help="a race of your own: its race TOML (then --results and --weather too)"),
    results: Optional[Path] = typer.Option(None, "--results", exists=True, dir_okay=False, help="with --race-file: its results file"),
    mapping: str = typer.Option("boston", "--mapping", help="with --race-file: the results file's mapping (name or TOML)"),
    weather: Optional[Path] = typer.Option(None, "--weather", exists=True, dir_okay=False,
                                           help="with --race-file: its hourly weather, Visual Crossing flat CSV"),
):
    """Re-run a real race with SIMULATED cramps through the intake at --speed x real time."""
    from racecramp.simulate import replay as rp

    settings = get_settings()
    files = None
    if race_file is not None:
        if results is None or weather is None:
            raise rp.ReplayError("--race-file goes with --results and --weather: the replay needs the race's runners and weather")
        files = (race_file, results, weather, mapping)
    elif results is not None or weather is not None:
        raise rp.ReplayError("--results and --weather go with --race-file (without it --race picks a shipped race)")
    try:
        run_replay(settings, race, speed, seed, intake_url, to, from_file, tokens_file, import_race, files)
    except rp.ReplayError as exc:
        err_console.print(f"[red]replay stopped:[/red] {exc}")
        raise typer.Exit(1) from None


def run_replay(settings, race, speed, seed, intake_url, to, from_file, tokens_file, import_race, files=None) -> dict[str, int]:
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
        source = rp.load_source(*files) if files is not None else rp.load_shipped_source(race)
        race = source.race_id
        console.print(f"read {race} (race file, results, weather); planting SIMULATED cramps (seed {seed}) ...")
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




def register(app: typer.Typer) -> None:
    app.command()(tokens)
    app.command()(replay)
