"""An expected error in any command is one readable line and exit 1; --debug shows the traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from racecramp.cli import app
from racecramp.sources.mapping import MappingError

from paths import DATA


def test_a_missing_mapping_file_is_one_line_naming_it(settings, tmp_path):
    result = CliRunner().invoke(app, ["import", "results", str(DATA / "boston-2017" / "results.csv"), "--race", "boston-2017",
                                      "--mapping", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: mapping") and "nope.toml" in " ".join(lines) and "no such file" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback_of_the_same_error(settings, tmp_path):
    result = CliRunner().invoke(app, ["--debug", "import", "results", str(DATA / "boston-2017" / "results.csv"), "--race",
                                      "boston-2017", "--mapping", str(tmp_path / "nope.toml")])
    assert result.exit_code != 0 and isinstance(result.exception, MappingError)
