"""Runner lookup (AppTest): a bib gives its runner_status row, reports and disposition."""

from __future__ import annotations

from apptest_helpers import metric, open_page
from dashboard_fixtures import REPORT_IDS


def _lookup(bib: str):
    at = open_page("pages/runner.py")
    at.text_input(key="bib").input(bib).run()
    assert not at.exception
    return at


def test_dnf_runner_shows_where_it_stopped_and_its_report(small):
    at = _lookup("109")
    assert at.header[0].value.startswith("Bib 109") and "DNF" in at.header[0].value
    assert metric(at, "Status").value == "dnf"
    assert metric(at, "Last seen").value == "mat-half"
    assert any(c.value.startswith("21.1 km at") for c in at.caption)
    assert metric(at, "Projected position now").value == "24.1 km"  # where the report was made
    assert metric(at, "Cramp reports").value == "1"
    assert any("disposition **dnf**" in m.value for m in at.markdown)
    reports = at.dataframe[0].value
    assert reports["report_id"].tolist() == [REPORT_IDS["R4"]]


def test_runner_being_treated_has_no_disposition_yet(small):
    at = _lookup("110")
    assert metric(at, "Status").value == "in_medical"
    assert any("none yet (still being treated)" in m.value for m in at.markdown)


def test_runner_on_course_shows_next_mat_and_both_reports(small):
    at = _lookup("103")
    assert metric(at, "Status").value == "on_course"
    assert metric(at, "Cramp reports").value == "2"
    assert any("Next mat: **mat-40k**" in m.value for m in at.markdown)
    assert at.dataframe[0].value["report_id"].tolist() == [REPORT_IDS["R9"], REPORT_IDS["R1"]]


def test_unknown_bib_says_so(small):
    at = _lookup("99999")
    assert any("99999" in w.value and "not among the participants" in w.value for w in at.warning)
