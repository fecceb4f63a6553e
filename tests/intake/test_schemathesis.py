"""schemathesis against the intake's own OpenAPI spec: no input makes it answer 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from racecramp.config import load_settings
from racecramp.intake import create_app

# The spec does not depend on settings, and building the app touches no files. (It is
# loaded here because schemathesis.pytest.from_fixture fails on pytest 9.2: it sets
# request.node._nodeid, which pytest 9 no longer has.)
SPEC = create_app(load_settings(data_dir=Path("/nonexistent/racecramp-spec-only"), token_hashes={})).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


@pytest.fixture
def intake_app(intake_settings):
    """The intake on a fresh data dir with the course published (the spec's examples fit it)."""
    app = create_app(intake_settings)
    yield app
    app.state.intake.close()


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_intake_answer_5xx(case, intake_app, kit):
    case.call_and_validate(
        base_url="http://intake.test", app=intake_app, headers=kit.bearer("command"), checks=[not_a_server_error]
    )
