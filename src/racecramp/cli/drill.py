"""`racecramp tokens` and `racecramp replay`: tokens (and station cards) for a race's stations
and feeds, and a drill that replays a real race with SIMULATED cramps through the intake."""

from __future__ import annotations

from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from racecramp.cli.common import console, err_console, get_settings
from racecramp.config import Settings


def _race_and_course(settings: Settings, race: str):
    """(the race's row, its course points): from a race file path, or by race_id from the published snapshots."""
    import polars as pl

    from racecramp.intake.tokens import TokenError
    from racecramp.publish.snapshots import load_snapshot
    from racecramp.sources.race import read_race

    path = Path(race).expanduser()
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise TokenError(f"--race {race}: no such race file; expected a race TOML or a published race_id")
        return read_race(path)
    races = load_snapshot(settings.snapshot_dir, "races")
    course = load_snapshot(settings.snapshot_dir, "course_points")
    known = sorted(races["race_id"].to_list()) if races is not None else []
    if race not in known or course is None:
        raise TokenError(
            f"--race {race}: not a race published in {settings.snapshot_dir} (published: {', '.join(known) or 'none'}); "
            "declare it first (racecramp import race FILE) or pass the race file's path"
        )
    return races.filter(pl.col("race_id") == race), course.filter(pl.col("race_id") == race)


def _station_cards(races, course, tokens: dict[str, str], entry_url: str):
    """A card for each station token in `tokens`, in course order."""
    import polars as pl

    from racecramp.intake.auth import Principal
    from racecramp.intake.station_cards import StationCard

    race = races.row(0, named=True)
    points = {row["point_id"]: row for row in course.with_columns(pl.col("km").cast(pl.Float64)).iter_rows(named=True)}
    cards = []
    for name, token in tokens.items():
        principal = Principal(name)
        if principal.station is None:
            continue
        point = points[principal.station]
        cards.append(StationCard(
            principal=name, token=token, race_id=race["race_id"], race_name=race["name"], race_date=str(race["date"]),
            point_id=principal.station, label=point["label"] or principal.station, km=point["km"], entry_url=entry_url,
        ))
    return sorted(cards, key=lambda c: (c.km, c.point_id))


def tokens(
    race: Optional[str] = typer.Option(None, "--race", help="a race_id of the published snapshots, or a race file (TOML)"),
    out: Optional[Path] = typer.Option(None, "--out", help="write the new plaintext tokens to this new file (mode 600, not under data_dir) instead of printing them"),
    cards: Optional[Path] = typer.Option(None, "--cards", help="also write station cards (PDF, one page per new station token; not under data_dir)"),
    entry_url: Optional[str] = typer.Option(None, "--entry-url", help="the station app's address printed on the cards (default: the station_app_url setting)"),
    replace: bool = typer.Option(False, "--replace", help="make new tokens for every principal of the race and revoke the old ones"),
    revoke: list[str] = typer.Option([], "--revoke", metavar="PRINCIPAL", help="revoke this principal's token (a lost tablet); repeatable"),
):
    """Make bearer tokens for the command, the race's feeds and every station of a race (those
    without a live token, or all with --replace), register their SHA-256 digests in the token
    register the intake re-reads, and hand out the plaintext once: printed, or --out FILE, and
    --cards FILE.pdf. --revoke PRINCIPAL stops a token at once (no intake restart)."""
    from racecramp.intake.station_cards import write_station_cards
    from racecramp.intake.tokens import TokenError, issue_tokens, refuse_under_data_dir, revoke_token, write_token_file
    from racecramp.simulate.replay import race_principals

    settings = get_settings()
    register = settings.token_register_path
    for principal in revoke:
        for revocation in revoke_token(settings, principal):
            typer.echo(f"revoked {principal} (token sha256 {revocation.sha256[:12]}…) in {register}; the intake refuses it from its next request")
    if race is None:
        if revoke:
            return
        raise TokenError("racecramp tokens: name the race (--race RACE_ID or --race RACE_FILE) or a token to stop (--revoke PRINCIPAL)")
    for path, what in ((out, "tokens file"), (cards, "station cards")):
        if path is not None:
            refuse_under_data_dir(path, settings.data_dir, what)
            if path.exists():
                raise TokenError(f"{what} {path} exists already: name a new file (tokens are handed out once)")
    races, course = _race_and_course(settings, race)
    race_id = races["race_id"][0]
    issued = issue_tokens(settings, race_principals(races, course), replace=replace)
    if not issued:
        raise TokenError(
            f"every principal of {race_id} has a live token already: --replace makes new ones for all (revoking the old), "
            "--revoke PRINCIPAL stops one (then run this again to make its replacement)"
        )
    address = entry_url or settings.station_app_address
    station_cards = _station_cards(races, course, issued, address)
    if cards is not None:
        write_station_cards(cards, station_cards)
        typer.echo(f"wrote {len(station_cards)} station card(s) to {cards} (mode 600): print, then delete the file")
        if urlsplit(address).hostname in ("127.0.0.1", "localhost", "::1"):
            err_console.print(f"[yellow]the cards say {address}, which a tablet cannot reach: set station_app_url or --entry-url[/yellow]")
    if out is not None:
        write_token_file(out, issued, settings.data_dir)
        typer.echo(f"wrote {len(issued)} plaintext token(s) to {out} (mode 600): hand each holder their own")
    else:
        typer.echo("# new tokens, shown once (hand each holder their own):")
        for principal, token in issued.items():
            typer.echo(f"{principal} = {token}")
    typer.echo(f"registered {len(issued)} token hash(es) for {race_id} in {register}; the intake accepts them from its next request")


def replay(
    race: str = typer.Option("boston-2017", "--race", help="a race shipped in data/ (race file, results, weather); see --race-file"),
    speed: float = typer.Option(60.0, "--speed", help="race seconds per wall second; 0 = as fast as the intake takes it"),
    seed: int = typer.Option(2017, "--seed", help="simulator seed: the same seed sends a byte-identical stream"),
    intake_url: Optional[str] = typer.Option(None, "--intake", help="intake base URL (default: the configured loopback intake)"),
    to: Optional[Path] = typer.Option(None, "--to", help="write the stream to this folder instead of posting it"),
    from_file: Optional[Path] = typer.Option(None, "--from", exists=True, dir_okay=False, help="send a stream written by --to"),
    tokens_file: Optional[Path] = typer.Option(None, "--tokens", help="plaintext tokens, as written by racecramp tokens --out FILE"),
    import_race: bool = typer.Option(True, "--import-race/--no-import-race", help="import the race definition first if the course lacks it"),
    race_file: Optional[Path] = typer.Option(None, "--race-file", exists=True, dir_okay=False,
                                             help="a race of your own: its race TOML (then --results and --weather too)"),
    results: Optional[Path] = typer.Option(None, "--results", exists=True, dir_okay=False, help="with --race-file: its results file"),
    mapping: str = typer.Option("boston", "--mapping", help="with --race-file: the results file's mapping (name or TOML)"),
    weather: Optional[Path] = typer.Option(None, "--weather", exists=True, dir_okay=False,
                                           help="with --race-file: its hourly weather, Visual Crossing flat CSV"),
):
    """Re-run a real race with SIMULATED cramps through the intake at --speed x real time."""
    from racecramp.intake.tokens import read_token_file
    from racecramp.simulate import replay as rp

    settings = get_settings()
    files = None
    if race_file is not None:
        if results is None or weather is None:
            raise rp.ReplayError("--race-file goes with --results and --weather: the replay needs the race's runners and weather")
        files = (race_file, results, weather, mapping)
    elif results is not None or weather is not None:
        raise rp.ReplayError("--results and --weather go with --race-file (without it --race picks a shipped race)")
    if to is None and tokens_file is None:
        raise rp.ReplayError(
            f"racecramp replay posts as the race's feeds and stations: pass --tokens FILE, made by "
            f"`racecramp tokens --race {race} --out FILE` (or write the stream with --to DIR)"
        )
    tokens = read_token_file(tokens_file) if tokens_file is not None else {}
    try:
        run_replay(settings, race, speed, seed, intake_url, to, from_file, tokens, import_race, files)
    except rp.ReplayError as exc:
        err_console.print(f"[red]replay stopped:[/red] {exc}")
        raise typer.Exit(1) from None


def run_replay(settings, race, speed, seed, intake_url, to, from_file, tokens: dict[str, str], import_race,
               files=None) -> dict[str, int]:
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
    console.print(f"sent in {wall_s:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in sent.items())
                  + f"; {sender.retries} retries ({sender.throttled} answered 429)")
    return sent


def register(app: typer.Typer) -> None:
    app.command()(tokens)
    app.command()(replay)
