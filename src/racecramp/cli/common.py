"""What every command shares: the consoles, settings, progress steps, and how errors are shown.

An expected error (racecramp.errors.RacecrampError: a bad setting, a file that cannot be read,
a race not declared, a stopped replay) is one readable line on stderr and exit code 1; with
`racecramp --debug ...` its traceback is shown instead. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from racecramp.config import Settings, SettingsError, load_settings
from racecramp.errors import RacecrampError

console = Console()
err_console = Console(stderr=True)


class ErrorsAsOneLine(TyperGroup):
    """The command group: expected errors print one line and exit 1 (--debug: the traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RacecrampError as exc:
            if ctx.params.get("debug"):
                raise
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None


def get_settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err_console.print(f"[red]settings error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


@contextmanager
def steps(total: int) -> Iterator[tuple[Progress, int]]:
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err_console, transient=False,
    ) as progress:
        task = progress.add_task("starting", total=total)
        yield progress, task
