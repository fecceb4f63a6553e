"""The intake's request models and the landing kinds agree field by field: whatever a sender may
post lands in a column of its kind, and every column a sender provides can be posted (a feed
field added to a kind but not to the intake is a 422 on race day)."""

from __future__ import annotations

import pytest

from racecramp.intake.models import ParticipantIn, PassingIn, ReportIn, WeatherIn
from racecramp.landing.kinds import KINDS

MODELS = {"reports": ReportIn, "passings": PassingIn, "participants": ParticipantIn, "weather": WeatherIn}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_field_a_sender_posts_is_a_column_of_its_kind_and_back(kind):
    fields = set(MODELS[kind].model_fields)
    columns = {c.name for c in KINDS[kind].columns if not c.derived}
    sent = {c.name for c in KINDS[kind].columns if not c.derived and not c.assigned}
    assert fields <= columns, f"{kind}: posted but no column: {sorted(fields - columns)}"
    assert sent <= fields, f"{kind}: columns a sender provides that the intake refuses: {sorted(sent - fields)}"
