"""`python -m racecramp.cli` runs the command line."""

from racecramp.cli.main import app

app()
