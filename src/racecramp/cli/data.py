"""`racecramp import ...`, `ingest`, `marts` and `sql`: bring files in, merge, publish, query."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from racecramp.cli.common import console, err_console, get_settings, steps

import_app = typer.Typer(help="Import a file through landing -> validation -> warehouse.", no_args_is_help=True)


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


def _print_dry_run(result) -> None:
    dry = result.dry_run
    table = Table(title=f"dry run, import {result.kind}: {result.path.name} (nothing landed)")
    for name in ("rows read", "would be accepted", "would be quarantined"):
        table.add_column(name, justify="right")
    table.add_row(str(dry.rows), str(dry.accepted), str(dry.quarantined))
    console.print(table)
    for note in result.notes:
        console.print(f"[dim]{escape(note)}[/dim]")
    if dry.reasons:
        console.print("checks that would quarantine: " + ", ".join(f"{check} ({n})" for check, n in dry.reasons))
        console.print("first reasons:")
        for message in dry.messages:
            console.print(f"  {escape(message)}", highlight=False, soft_wrap=True)


def _run_import(description: str, fn, *args, dry_run: bool = False, **kwargs):
    from racecramp.landing import bulk as imports

    if dry_run:
        result = fn(*args, dry_run=True, **kwargs)
        _print_dry_run(result)
        return result
    with steps(3) as (progress, task):
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

    _run_import(f"race {path.name}", imports.import_race, get_settings(), path)


@import_app.command("results")
def import_results(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    race: str = typer.Option(..., "--race", help="race_id, e.g. boston-2017 (import the race first)"),
    mapping: str = typer.Option("boston", "--mapping", help="built-in mapping name or a TOML file (draft one: racecramp mapping draft FILE)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="read and validate only: counts and first reasons, nothing landed"),
):
    """A results CSV (participants and their splits) through a declarative column mapping."""
    from racecramp.landing import bulk as imports

    _run_import(f"results {path.name}", imports.import_results, get_settings(), path, race, mapping=mapping, dry_run=dry_run)


@import_app.command("weather")
def import_weather(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    race: Optional[str] = typer.Option(None, "--race"),
    fmt: str = typer.Option("auto", "--format", help="auto | visualcrossing-json | visualcrossing-csv | iem-asos"),
):
    """Weather observations: Visual Crossing JSON/CSV or Iowa Mesonet ASOS/METAR CSV."""
    from racecramp.landing import bulk as imports

    _run_import(f"weather {path.name}", imports.import_weather, get_settings(), path, race, fmt=fmt)


@import_app.command("reports")
def import_reports(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    race: str = typer.Option(..., "--race"),
    mapping: str = typer.Option("reports", "--mapping", help="built-in mapping name or a TOML file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="read and validate only: counts and first reasons, nothing landed"),
):
    """Cramp reports from a CSV log (paper log typed into a spreadsheet)."""
    from racecramp.landing import bulk as imports

    _run_import(f"reports {path.name}", imports.import_tabular, get_settings(), path, race, mapping, dry_run=dry_run)


@import_app.command("survey")
def import_survey(
    path: Path = typer.Argument(..., exists=True, dir_okay=False),
    race: str = typer.Option(..., "--race"),
    mapping: str = typer.Option("survey", "--mapping", help="built-in mapping name or a TOML file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="read and validate only: counts and first reasons, nothing landed"),
):
    """Finisher-survey responses from a survey tool's CSV export."""
    from racecramp.landing import bulk as imports

    _run_import(f"survey {path.name}", imports.import_tabular, get_settings(), path, race, mapping, dry_run=dry_run)


def ingest():
    """Merge everything pending in the landing zone and publish snapshots."""
    from racecramp.landing import bulk as imports

    summary = imports.ingest_now(get_settings())
    console.print(f"{len(summary.batches)} batches: {summary.accepted} accepted, {summary.quarantined} quarantined")


def marts(check: bool = typer.Option(False, "--check", help="only check the published marts; exit 1 naming mart, check and rows")):
    """Recompute and publish every mart from the warehouse, then check them (marts.checks)."""
    from racecramp.marts.checks import check_marts
    from racecramp.marts.registry import published_marts
    from racecramp.publish.snapshots import load_snapshot

    settings = get_settings()
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


def sql(
    command: Optional[str] = typer.Option(None, "-c", "--command", help="one query; without it, an interactive session"),
    csv: bool = typer.Option(False, "--csv", help="print CSV instead of a table"),
):
    """Query the read replica (never the live warehouse) with DuckDB SQL."""
    import duckdb

    settings = get_settings()
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
        frame = con.sql(query).pl()
        if as_csv:  # formulas neutralised, nested columns as JSON (racecramp.spreadsheet)
            from racecramp.spreadsheet import csv_text

            sys.stdout.write(csv_text(frame))
            return
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





mapping_app = typer.Typer(help="Results-file mappings: draft one from a file for review.", no_args_is_help=True)


@mapping_app.command("draft")
def mapping_draft(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="a results export (CSV, any delimiter)"),
    race_file: Optional[Path] = typer.Option(None, "--race-file", exists=True, dir_okay=False,
                                             help="the race TOML: its timing mats name the splits, its distance the finish"),
    out: Optional[Path] = typer.Option(None, "--out", help="write the draft here (default: print it)"),
):
    """Propose a mapping TOML from a file's header and first rows, for review before `import results`."""
    from racecramp.durable import atomic_write_text
    from racecramp.sources.mapping_draft import draft_mapping_file

    draft = draft_mapping_file(path, race_file)
    if out is None:
        typer.echo(draft.toml, nl=False)
    else:
        atomic_write_text(out, draft.toml)
        console.print(f"wrote {out}")
    for line in draft.review:
        err_console.print(f"[yellow]review:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)
    err_console.print(f"then: racecramp import results {path} --race RACE --mapping {out or 'MAPPING.toml'} --dry-run")


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(mapping_app, name="mapping")
    app.command()(ingest)
    app.command()(marts)
    app.command()(sql)
