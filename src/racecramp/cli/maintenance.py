"""`racecramp rebuild`, `backup DIR` and `restore DIR`: keep the warehouse recoverable
(docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from racecramp.cli.common import console, err_console, get_settings


def say(text: str) -> None:
    """One line per fact, paths unbroken (they are copied from the terminal)."""
    console.print(text, soft_wrap=True, highlight=False)


def rebuild():
    """Recreate warehouse.duckdb from every batch in the landing zone, then publish (the old file is kept aside)."""
    from racecramp.warehouse.rebuild import rebuild as rebuild_warehouse

    settings = get_settings()
    say(f"rebuilding {settings.warehouse_path} from {settings.landing_dir} ...")
    report = rebuild_warehouse(settings)
    say(f"{report.batches} batches merged: {report.accepted} accepted, {report.quarantined} quarantined "
                  f"({report.seconds:.1f} s); snapshots published")
    if report.alerts_carried is None:
        err_console.print("[yellow]no published alerts snapshot: alerts were evaluated afresh at each race's clock[/yellow]",
                          soft_wrap=True)
    else:
        say(f"alert history: {report.alerts_carried} alerts carried over from the published snapshot")
    if report.old_file is not None:
        say(f"the previous warehouse file is kept as {report.old_file} (delete it when no longer needed)")


def backup(directory: Path = typer.Argument(..., file_okay=False, help="a new or empty folder for the backup")):
    """A consistent copy of the warehouse, snapshots, landing zone and idempotency index (safe while racecramp runs)."""
    from racecramp.warehouse.backup import backup as take_backup

    report = take_backup(get_settings(), directory)
    say(f"backup in {report.directory}: {report.tables} warehouse tables "
                  f"({report.warehouse_bytes / 1e6:.1f} MB), {report.batches} landing batches")


def restore(directory: Path = typer.Argument(..., exists=True, file_okay=False, help="a folder written by racecramp backup")):
    """Put a backup into the configured (empty) data dir and check every table against it."""
    from racecramp.warehouse.backup import restore as restore_backup

    settings = get_settings()
    report = restore_backup(settings, directory)
    say(f"restored {report.directory} into {settings.data_dir}: {report.tables} tables identical to the backup, "
                  f"{report.batches} landing batches")


def register(app: typer.Typer) -> None:
    app.command()(rebuild)
    app.command()(backup)
    app.command()(restore)
