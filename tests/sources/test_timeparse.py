"""Race durations in the shapes results files write them become seconds; junk is flagged."""

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from racecramp.sources.timeparse import format_hms, hms_text, parse_durations

NBSP = "\u00a0"


def parsed(values, **kwargs) -> list[tuple[float | None, bool]]:
    frame = parse_durations(pl.Series(values, dtype=pl.String), **kwargs)
    return list(zip(frame.get_column("seconds").to_list(), frame.get_column("unparsable").to_list()))


def test_every_written_shape_of_a_time_gives_its_seconds():
    assert parsed(["1:02:05", "25:30", "1:02:05.4", "3725", "3725.4", "0:04:57", "12:00:00"]) == [
        (3725.0, False),  # 1 h + 2 min + 5 s
        (1530.0, False),  # 25 min 30 s
        (3725.4, False),
        (3725.0, False),
        (3725.4, False),
        (297.0, False),
        (43200.0, False),
    ]


def test_mm_ss_may_pass_an_hour_but_seconds_may_not_pass_a_minute():
    # some exports write 1 h 15 min 30 s as 75:30
    assert parsed(["75:30", "1:30:60"]) == [(4530.0, False), (None, True)]


def test_missing_markers_and_blank_cells_are_missing_not_errors():
    assert parsed(["", "-", "N/A", "n/a", "DNF", "   ", NBSP, f" {NBSP} ", None]) == [(None, False)] * 9


def test_non_breaking_spaces_and_whitespace_around_a_time_are_ignored():
    assert parsed([f"{NBSP}1:00:00{NBSP}", "  45:00\t"]) == [(3600.0, False), (2700.0, False)]


@pytest.mark.parametrize("text", ["1:7x:00", "1:75:00", "abc", "1:2:3:4", "-5", "1:00:00:", ":30", "1,5", "١:٠٠:٠٠"])
def test_text_that_is_no_valid_time_is_flagged_unparsable(text):
    assert parsed([text]) == [(None, True)]


def test_missing_markers_are_configurable():
    # with only "?" as a marker, a dash is text that is not a time
    assert parsed(["?", "-", "1:00"], missing=["?"]) == [(None, False), (None, True), (60.0, False)]


def test_seconds_format_rejects_clock_times():
    assert parsed(["3725.4", "1:02:05"], time_format="seconds") == [(3725.4, False), (None, True)]


def test_an_unknown_time_format_is_refused_with_its_name():
    with pytest.raises(ValueError, match="time_format='hh:mm'"):
        parse_durations(pl.Series(["1:00"]), time_format="hh:mm")


def test_format_hms_writes_hours_minutes_seconds_and_tenths():
    assert format_hms(3725.4) == "1:02:05.4"
    assert format_hms(7777) == "2:09:37"
    assert format_hms(59) == "0:00:59"


@given(st.integers(min_value=0, max_value=100 * 3600))
def test_whole_seconds_survive_a_round_trip_through_h_mm_ss(seconds):
    assert parsed([format_hms(seconds)]) == [(float(seconds), False)]


@given(st.integers(min_value=0, max_value=100 * 36000))
def test_tenths_survive_a_round_trip_through_h_mm_ss_t(tenths):
    value, unparsable = parsed([format_hms(tenths / 10)])[0]
    assert not unparsable
    assert value == pytest.approx(tenths / 10, abs=1e-6)


@given(st.lists(st.integers(min_value=0, max_value=100 * 36000), min_size=1, max_size=20))
def test_vectorised_formatting_matches_format_hms(tenths):
    seconds = [t / 10 for t in tenths]
    frame = pl.DataFrame({"s": seconds}).select(hms_text(pl.col("s")))
    assert frame.to_series().to_list() == [format_hms(s) for s in seconds]
