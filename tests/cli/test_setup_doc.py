"""docs/setup.md: every racecramp command it tells a new race to run exists with those options
(the steps themselves run in tests/integration/test_any_race.py)."""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from racecramp.cli import app

from paths import REPO


def _documented_commands() -> list[list[str]]:
    text = (REPO / "docs" / "setup.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith(".venv/bin/racecramp "):
                commands.append(shlex.split(line)[1:])
    return commands


def test_the_setup_guide_names_the_steps_of_a_new_race():
    written = [" ".join(c) for c in _documented_commands()]
    for step in ("race new", "import race", "mapping draft", "import results", "--dry-run", "import weather", "serve",
                 "replay --race-file", "report --race"):
        assert any(step in command for command in written), step


@pytest.mark.parametrize("args", _documented_commands(), ids=lambda a: " ".join(a[:2]))
def test_each_documented_command_and_its_options_exist(args):
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
