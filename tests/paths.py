"""Where test data lives: the package ships its data (racecramp.data); ../shared/realdata only beside a checkout."""

from pathlib import Path

from racecramp.data import data_dir

REPO = Path(__file__).resolve().parents[1]
DATA = data_dir()
SHARED = REPO.parent / "shared" / "realdata"
