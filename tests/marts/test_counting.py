"""marts.counting: the retry rule (same id, same contents: a no-op; other contents: a conflict) and
what the roster holds (starters, or finishers only)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl

from racecramp.marts.counting import retry_verdicts, roster_holds

UTC = pl.Datetime("us", "UTC")
T = datetime(2017, 4, 17, 17, 5, tzinfo=timezone.utc)


def reports(rows: list[tuple[str, float | None, str, datetime]]) -> pl.DataFrame:
    """rows of (report_id, km, severity, reported_at)."""
    return pl.DataFrame({
        "_row": list(range(len(rows))),
        "report_id": [r[0] for r in rows], "race_id": "r", "source": "aid_station", "simulated": False,
        "point_id": "aid-23mi", "km": [r[1] for r in rows], "bib": "12", "severity": [r[2] for r in rows],
        "reported_at_utc": pl.Series([r[3] for r in rows], dtype=UTC),
    })


def verdicts(incoming: pl.DataFrame, stored: pl.DataFrame | None = None) -> list[tuple[str, str | None]]:
    stored = stored if stored is not None else incoming.head(0).drop("_row")
    return retry_verdicts(incoming, stored).select("retry", "conflict_with").rows()


def test_a_resent_report_with_the_same_contents_is_a_repeat_whatever_case_or_zone_it_is_written_in():
    stored = reports([("ABC", 37.015, "mild", T)]).drop("_row")
    same = reports([("abc", 37.015, "mild", T.astimezone(timezone(timedelta(hours=-4))))])
    assert verdicts(same, stored) == [("repeat", "stored")]


def test_a_resent_report_with_other_contents_is_a_conflict_with_the_stored_one():
    stored = reports([("a", 37.015, "mild", T)]).drop("_row")
    assert verdicts(reports([("a", 37.015, "severe", T)]), stored) == [("conflict", "stored")]
    assert verdicts(reports([("a", None, "mild", T)]), stored) == [("conflict", "stored")]  # a km taken away is a change


def test_within_one_batch_the_first_copy_wins_and_a_changed_copy_is_a_conflict():
    batch = reports([("a", 1.0, "mild", T), ("b", 2.0, "mild", T), ("a", 1.0, "mild", T), ("a", 1.0, "severe", T)])
    assert verdicts(batch) == [("new", None), ("new", None), ("repeat", "row 1 of the batch"),
                               ("conflict", "row 1 of the batch")]


def test_the_roster_holds_finishers_only_when_nobody_did_not_finish():
    people = pl.DataFrame({"race_id": ["a", "a", "b", "b"], "finished": [True, True, True, False]})
    held = dict(roster_holds(people).collect().iter_rows())
    assert held == {"a": "finishers", "b": "starters"}
