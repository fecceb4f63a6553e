"""`racecramp intake`, `serve` and `status`: run the stack and see how it is doing."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from racecramp.cli.common import console, err_console, get_settings


def intake():
    """Run the HTTP intake (FastAPI on uvicorn) on the configured loopback port."""
    from racecramp.intake.app import run_intake
    from racecramp.orchestration.prefect_events import landing_appended

    run_intake(get_settings(), on_appended=landing_appended)


def serve(no_dashboard: bool = typer.Option(False, "--no-dashboard", help="do not start the Streamlit dashboard")):
    """Start the Prefect server, the served flows, the intake and the dashboard; Ctrl-C stops all."""
    from racecramp.orchestration import supervisor as services

    settings = get_settings()
    console.print("starting racecramp (Prefect server, flows, intake, dashboard) ...")
    services.stop_on_signal_while_starting()
    try:
        stack = services.start_stack(settings, with_dashboard=not no_dashboard)
    except services.StopRequested:
        console.print("stopped while starting")
        raise typer.Exit(0) from None
    for name, url in stack.urls().items():
        console.print(f"  {name:10s} {url}")
    console.print(f"logs in {Path(settings.data_dir) / 'logs'}; Ctrl-C to stop")
    code = services.run_forever(stack, on_event=lambda msg: err_console.print(f"[yellow]{msg}[/yellow]"))
    console.print("stopped")
    raise typer.Exit(code)


def status():
    """Health of each component, landing backlog, last ingest, last weather observation."""
    from datetime import UTC, datetime

    import polars as pl

    from racecramp.orchestration import drain as live
    from racecramp.orchestration import supervisor as services
    from racecramp.publish.snapshots import read_manifest, read_published, snapshot_path

    settings = get_settings()
    table = Table(title="racecramp status")
    table.add_column("what")
    table.add_column("state")
    for name, state in services.component_health(settings).items():
        colour = "green" if state == "up" else "red"
        table.add_row(name, f"[{colour}]{state}[/{colour}]")
    table.add_row("landing backlog", f"{live.landing_backlog(settings)} batches not yet ingested")
    manifest = read_manifest(settings.snapshot_dir)
    table.add_row("last ingest", (manifest or {}).get("last_ingest_utc") or "never")
    weather = read_published(snapshot_path(settings.snapshot_dir, "weather_observations"))
    if weather is not None:
        last = weather.select(pl.col("observed_at_utc").max()).item()
        age = "" if last is None else f" ({(datetime.now(UTC) - last).total_seconds() / 60:.0f} min ago)"
        table.add_row("last weather observation", f"{last}{age}")
    else:
        table.add_row("last weather observation", "none")
    feed = live.read_status(settings, "weather_feed")
    if feed:
        table.add_row("weather feed", "ok" if feed.get("ok") else f"[red]failing[/red]: {'; '.join(feed.get('errors', []))}")
    console.print(table)





def register(app: typer.Typer) -> None:
    app.command()(intake)
    app.command()(serve)
    app.command()(status)
