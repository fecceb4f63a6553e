"""Where test data lives: data/ ships with the repo; ../shared/realdata only beside a checkout."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SHARED = REPO.parent / "shared" / "realdata"
