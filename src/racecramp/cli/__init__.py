"""The command line: `racecramp ...`, thin typer commands over the library (cli.main holds the app)."""

from racecramp.cli.main import app

__all__ = ["app"]
