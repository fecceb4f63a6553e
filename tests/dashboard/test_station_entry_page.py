"""Station entry: volunteers are sent to the intake's offline-first station app (docs/station-app.md)."""

from __future__ import annotations

from apptest_helpers import open_page


def test_the_page_links_to_the_station_app_on_the_intake(small):
    at = open_page("pages/station_entry.py")
    assert not at.exception, [e.message for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert f"http://127.0.0.1:{small.intake_port}/station/" in text
    assert not at.text_input and not at.button  # no form here: reports are entered in the station app
