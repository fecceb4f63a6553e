"""`racecramp`: the command line, thin typer commands over the library, grouped by what they do.

cli.race (race new), cli.data (import, mapping draft, ingest, marts, sql), cli.stack (intake, serve, status), cli.drill (tokens,
replay), cli.demo, cli.report (report, close-race), cli.season (season, season-generate),
cli.maintenance (rebuild, backup, restore).
"""

from __future__ import annotations

import typer

from racecramp.cli import data, demo, drill, maintenance, race, report, season, stack
from racecramp.cli.common import ErrorsAsOneLine, get_settings

app = typer.Typer(help="racecramp: cramp monitoring for marathon medical teams.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False, cls=ErrorsAsOneLine)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="show the traceback of an expected error")) -> None:
    """racecramp: cramp monitoring for marathon medical teams."""


race.register(app)
data.register(app)
stack.register(app)
drill.register(app)
demo.register(app)
report.register(app, get_settings)
season.register(app, get_settings)
maintenance.register(app)


if __name__ == "__main__":
    app()
