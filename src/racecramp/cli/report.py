"""`racecramp report` and `racecramp close-race`: thin typer commands over racecramp.report."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Callable, Optional

import httpx
import typer
from rich.console import Console

from racecramp.config import Settings

console = Console()
err_console = Console(stderr=True)
PREFECT_HEALTH_TIMEOUT_S = 2.0


def prefect_api_of_running_stack(settings: Settings) -> str | None:
    """PREFECT_API_URL as set, else the local stack's Prefect API when it answers, else None."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    url = f"http://127.0.0.1:{settings.prefect_port}/api"
    try:
        healthy = httpx.get(f"{url}/health", timeout=PREFECT_HEALTH_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return None  # no stack running: the closure is landed; the report can be run by hand
    return url if healthy else None


def register(app: typer.Typer, settings_fn: Callable[[], Settings]) -> None:
    """Add `report` and `close-race` to the racecramp app."""

    @app.command("report")
    def report(
        race: Optional[str] = typer.Option(None, "--race", help="race_id (default: the configured race_id)"),
        fmt: str = typer.Option("html", "--format", help="html, or pdf (writes the HTML and its PDF)"),
        out: Optional[Path] = typer.Option(None, "--out", help="output directory (default: <data_dir>/reports)"),
    ) -> None:
        """Write the post-race report (HTML, optionally PDF) and consensus CSVs from the published snapshots."""
        from racecramp.report.write import FORMATS, write_report

        if fmt not in FORMATS:
            err_console.print(f"[red]--format {fmt!r}: expected one of {', '.join(FORMATS)}[/red]")
            raise typer.Exit(2)
        settings = settings_fn()
        race_id = race or settings.race_id
        formats = ("html", "pdf") if fmt == "pdf" else ("html",)
        try:
            written = write_report(settings, race_id, formats, out)
        except (ValueError, FileNotFoundError) as exc:
            err_console.print(f"[red]report for {race_id}:[/red] {exc}")
            raise typer.Exit(1) from None
        for kind, path in written.files.items():
            console.print(f"{kind}: {path}")

    @app.command("close-race")
    def close_race_command(
        race_id: str = typer.Argument(..., help="race_id to close, e.g. boston-2017"),
        by: Optional[str] = typer.Option(None, "--by", help="who closes it (default: the login name)"),
    ) -> None:
        """Close a race: land the closure, merge it, and emit racecramp.race.closed (triggers the report)."""
        from racecramp.report.closure import close_race

        settings = settings_fn()
        api = prefect_api_of_running_stack(settings)
        if api is not None:
            os.environ["PREFECT_API_URL"] = api
        result = close_race(settings, race_id, by or getpass.getuser())
        if result.accepted is False:
            reasons = "; ".join(f"{r} ({n})" for r, n in result.summary.top_reasons())
            err_console.print(f"[red]closure of {race_id} quarantined:[/red] {reasons}. "
                              "See: racecramp sql -c \"SELECT message FROM quarantine\"")
            raise typer.Exit(1)
        console.print(f"closed {race_id} at {result.record['closed_at_utc']} by {result.record['closed_by']} "
                      f"(landing batch {result.batch.batch_id})")
        if result.event_emitted:
            console.print(f"emitted racecramp.race.closed to {api}: the post-race-report deployment will write the report")
        else:
            console.print("[yellow]no Prefect server answered: no event emitted. Write the report with "
                          f"`racecramp report --race {race_id}`.[/yellow]")
