"""The Boston 2017 and 2018 reports show exactly what the published snapshots say: every
headline number is recomputed here from the snapshot Parquet files, and every table cell is
compared with the mart row it names (data-mart on the table, data-col on the cell)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from bs4 import BeautifulSoup
from statsmodels.stats.proportion import proportion_confint

from racecramp.cli.demo import DEMO_RACES
from racecramp.marts.heat import describe_wbgt

MEDICAL = ("aid_station", "finish_tent")


def snap(settings, table: str) -> pl.DataFrame:
    return pl.read_parquet(Path(settings.snapshot_dir) / f"{table}.parquet")


@pytest.fixture(scope="module", params=DEMO_RACES)
def page(request, demo_settings, demo_reports):
    race_id = request.param
    html = demo_reports[race_id].files["html"].read_text(encoding="utf-8")
    return race_id, BeautifulSoup(html, "html.parser")


def number(text: str) -> tuple[float, float]:
    """(value, half of the last shown digit): '1,234' -> (1234, 0.5); '12.3%' -> (12.3, 0.05)."""
    text = text.strip().replace(",", "").rstrip("%")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), 0.5 * 10 ** -decimals + 1e-9


def close_to(text: str, value: float | None, scale: float = 1.0) -> bool:
    if value is None:
        return text.strip() == "—"
    shown, tolerance = number(text)
    return abs(shown - value * scale) <= tolerance


def expected_cases(reports: pl.DataFrame) -> int:
    return reports["bib"].drop_nulls().n_unique() + reports["bib"].null_count()


def presentations(settings, race_id: str) -> pl.DataFrame:
    reports = snap(settings, "cramp_reports").filter((pl.col("race_id") == race_id) & pl.col("source").is_in(MEDICAL))
    return reports.unique("report_id")


def test_headline_numbers_equal_the_snapshots(page, demo_settings):
    race_id, soup = page
    participants = snap(demo_settings, "participants").filter(pl.col("race_id") == race_id)
    shown = presentations(demo_settings, race_id)
    finishers = int(participants["finished"].sum())
    cases = expected_cases(shown)
    assert finishers > 20000 and shown.height > 100  # the demo really is loaded
    # the Boston results list finishers only: the starters are not known, and no rate says "starters"
    assert finishers == participants.height
    assert soup.find(id="h-starters").text == "—"
    assert soup.find(id="h-per-1000-starters") is None
    assert number(soup.find(id="h-finishers").text)[0] == finishers
    assert number(soup.find(id="h-presentations").text)[0] == shown.height
    assert number(soup.find(id="h-cases").text)[0] == cases
    for kpi, denominator in (("h-per-1000-finishers", finishers),):
        assert close_to(soup.find(id=kpi).text, cases / denominator * 1000)
        low, high = proportion_confint(cases, denominator, method="wilson")
        ci_low, ci_high = soup.find(id=f"{kpi}-ci").text.split("–")
        assert close_to(ci_low, low * 1000) and close_to(ci_high, high * 1000)
    dispositions = shown.group_by(pl.col("disposition").fill_null("not recorded")).len()
    for disposition, n in dispositions.iter_rows():
        cell = soup.select_one(f"#t-dispositions td[data-col='disposition:{disposition}']")
        assert number(cell.text)[0] == n
    transported = shown.filter(pl.col("disposition") == "transported").height
    assert number(soup.find(id="h-transports").text)[0] == transported


def test_all_encounters_shown_only_where_published(page):
    race_id, soup = page
    text = soup.find(id="h-all-encounters").text
    if race_id == "boston-2017":  # 2,596 encounters published by the medical team (domain notes §2.1)
        assert number(text)[0] == 2596
    else:
        assert text == "not known"


def _check_table(soup, table_id: str, expected: pl.DataFrame, keys: tuple[str, ...]) -> int:
    """Every cell of the table equals its column in the expected row with the same key."""
    table = soup.find(id=table_id)
    assert table is not None, f"table {table_id} missing"
    rows = table.select("tbody tr")
    assert len(rows) == expected.height, f"{table_id}: {len(rows)} rows shown, {expected.height} in the mart"
    by_key = {tuple(str(r[k]) for k in keys): r for r in expected.iter_rows(named=True)}
    checked = 0
    for tr in rows:
        cells = {td["data-col"]: td.text for td in tr.find_all("td")}
        row = by_key[tuple(cells[k] for k in keys)]
        for col, text in cells.items():
            if col in keys:
                continue
            if col == "simulated":
                assert (text == "SIMULATED") == bool(row["simulated"]), (table_id, row)
            elif col == "small_count":
                assert bool(text) == bool(row["small_count"]), (table_id, row)
            elif col.startswith("ci:"):
                low_col = col[3:]
                high_col = low_col.replace("low", "high")
                percent = low_col in ("ci_low",)
                if row[low_col] is None:
                    assert text == "—"
                else:
                    low, high = text.split("–")
                    scale = 100 if percent else 1
                    assert close_to(low, row[low_col], scale) and close_to(high, row[high_col], scale), (table_id, col, text, row)
            elif col in ("share",):
                assert close_to(text, row[col], 100), (table_id, col, text, row)
            elif isinstance(row[col], (int, float)) or row[col] is None:
                assert close_to(text, row[col]), (table_id, col, text, row)
            else:
                assert text == str(row[col]), (table_id, col, text, row)
            checked += 1
    return checked


MART_TABLES = (
    ("t-by-distance", "cramp_rate_by_distance", None, ("segment",)),
    ("t-by-declared-pace", "cramp_rate_by_pace_group", "declared_pace", ("pace_group",)),
    ("t-by-relative-pace", "cramp_rate_by_pace_group", "relative_pace", ("pace_group",)),
    ("t-by-early-pace", "cramp_rate_by_pace_group", "early_pace", ("pace_group",)),
    ("t-by-wbgt", "cramp_rate_by_wbgt", None, ("wbgt_flag", "wbgt_band")),
    ("t-by-station", "cramp_rate_by_station", None, ("point_id", "kind")),
    ("t-by-sex-age", "cramp_rate_by_sex_age", None, ("sex", "age_band")),
    ("t-slowdown-by-band", "late_slowdown_by_finish_band", None, ("finish_band",)),
    ("t-survey", "survey_risk_factors", None, ("exposed_means",)),
)


@pytest.mark.parametrize("table_id, mart, grouping, keys", MART_TABLES, ids=[t[0] for t in MART_TABLES])
def test_every_mart_table_equals_the_published_mart(page, demo_settings, table_id, mart, grouping, keys):
    race_id, soup = page
    expected = snap(demo_settings, mart).filter(pl.col("race_id") == race_id)
    if grouping is not None:
        expected = expected.filter(pl.col("grouping") == grouping)
    assert soup.find(id=table_id)["data-mart"] == mart
    assert _check_table(soup, table_id, expected, keys) >= expected.height * 3


def test_on_real_boston_data_the_pace_table_has_groups_by_observed_first_half_pace(page, demo_settings):
    race_id, soup = page
    pace = snap(demo_settings, "cramp_rate_by_pace_group").filter(pl.col("race_id") == race_id)
    # the real results carry no declared times (the demo's are synthetic, declared_is_synthetic): the
    # observed first-half pace is what groups real runners
    early = pace.filter((pl.col("grouping") == "early_pace") & (pl.col("runners") > 0))
    assert early.height >= 3 and early["runners"].sum() > 20000  # every finisher banded by the half split
    assert early.filter(pl.col("pace_group") == "no first-half passing")["runners"].sum() < 100
    assert early["cases"].sum() > 0
    heading = soup.find(id="t-by-early-pace").find_previous("h3").text
    assert "observed first-half pace" in heading
    assert "denominator: finishers in the group" in soup.find(id="t-by-early-pace").decode()


def test_late_slowdown_share_equals_the_edition_mart(page, demo_settings):
    race_id, soup = page
    row = snap(demo_settings, "late_slowdown_by_edition").filter(pl.col("race_id") == race_id).row(0, named=True)
    assert number(soup.find(id="slowdown-runners").text)[0] == row["runners"]
    assert number(soup.find(id="slowdown-slowed").text)[0] == row["slowed"]
    assert close_to(soup.find(id="slowdown-share").text, row["share"], 100)


def test_survey_prevalence_and_causal_warning(page, demo_settings):
    race_id, soup = page
    survey = snap(demo_settings, "survey_responses").filter((pl.col("race_id") == race_id) & pl.col("cramped").is_not_null())
    assert number(soup.find(id="survey-cramped").text)[0] == survey["cramped"].sum()
    assert close_to(soup.find(id="survey-prevalence").text, survey["cramped"].mean(), 100)
    warning = soup.find(id="causal-warning").text
    assert "Do not read these as causes" in warning and "not causation" in warning


def test_comparison_lists_every_earlier_edition_of_the_series(page, demo_settings):
    race_id, soup = page
    rows = soup.select("#t-comparison tbody tr")
    editions = [tr.find("td", attrs={"data-col": "race_id"}).text for tr in rows]
    if race_id == "boston-2017":
        assert editions == ["boston-2017"] and soup.find(id="comparison-none") is not None
    else:
        assert editions == ["boston-2017", "boston-2018"]
    participants = snap(demo_settings, "participants")
    slowdown = snap(demo_settings, "late_slowdown_by_edition")
    for tr, edition in zip(rows, editions):
        cells = {td["data-col"]: td.text for td in tr.find_all("td")}
        finishers = participants.filter(pl.col("race_id") == edition).height  # finishers-only rosters
        cases = expected_cases(presentations(demo_settings, edition))
        assert cells["starters"] == "—" and cells["per_1000_starters"] == "—"
        assert number(cells["finishers"])[0] == finishers
        assert number(cells["cases"])[0] == cases
        assert close_to(cells["per_1000_finishers"], cases / finishers * 1000)
        assert cells["denominator_kind"] == "finishers"
        share = slowdown.filter(pl.col("race_id") == edition)["share"][0]
        assert close_to(cells["late_slowdown_share"], share, 100)
        assert cells["simulated"] == "SIMULATED"  # the demo's cramp reports are simulated


def test_data_quality_counts_quarantine_by_race(page, demo_settings):
    race_id, soup = page
    quarantine = snap(demo_settings, "quarantine").with_columns(pl.col("record").str.json_path_match("$.race_id").alias("race"))
    mine = quarantine.filter(pl.col("race") == race_id)
    assert number(soup.find(id="q-race").text)[0] == mine.height
    assert number(soup.find(id="q-total").text)[0] == quarantine.height
    if mine.height:
        shown = {(tr.find("td", attrs={"data-col": "source"}).text, tr.find("td", attrs={"data-col": "check"}).text):
                 number(tr.find("td", attrs={"data-col": "records"}).text)[0] for tr in soup.select("#t-quarantine tbody tr")}
        assert shown == {(s, c): n for s, c, n in mine.group_by("source", "check").len().iter_rows()}


def test_simulated_data_is_labelled_wherever_shown(page):
    _, soup = page
    banner = soup.find(id="simulated-banner")
    assert banner is not None and "SIMULATED" in banner.text and "cramp reports" in banner.text
    # every chart built from simulated reports says so in its title
    titles = [t.text for t in soup.select("svg text")]
    assert any("Cramp presentations and WBGT · SIMULATED" in t for t in titles)
    assert any("Cramp cases per 1000 finishers entering the segment · SIMULATED" in t for t in titles)


def test_report_is_self_contained(page):
    _, soup = page
    assert not soup.find_all("script") and not soup.find_all("link") and not soup.find_all("img")
    assert len(soup.find_all("svg")) >= 6
    assert all(not re.match(r"https?://", el.get("src", "")) for el in soup.find_all(src=True))


def test_consensus_csvs_count_every_presentation(demo_settings, demo_reports):
    for race_id, written in demo_reports.items():
        encounters = pl.read_csv(written.files["consensus_encounters"], infer_schema_length=0)
        rates = pl.read_csv(written.files["consensus_rates"])
        shown = presentations(demo_settings, race_id)
        finishers = snap(demo_settings, "participants").filter(pl.col("race_id") == race_id).height  # finishers only
        assert encounters.height == shown.height
        assert set(encounters["encounter_id"]) == set(shown["report_id"])
        overall = rates.filter(pl.col("dimension") == "all").row(0, named=True)
        assert overall["encounters"] == shown.height and overall["denominator"] == finishers
        assert (overall["denominator_kind"], overall["rate_unit"]) == ("finishers", "per 1000 finishers")
        assert "starters" not in rates.columns
        assert abs(overall["rate_per_1000"] - shown.height / finishers * 1000) < 1e-9
        for dimension in ("timing", "severity_consensus", "disposition"):
            assert rates.filter(pl.col("dimension") == dimension)["encounters"].sum() == shown.height



def test_the_peak_wbgt_names_its_method_and_inputs(page, demo_settings):
    race_id, soup = page
    shown = soup.find(id="timeline-peak-wbgt-inputs").get_text()
    heat = snap(demo_settings, "weather_heat").filter(pl.col("race_id") == race_id)
    peak = float(soup.find(id="timeline-peak-wbgt").get_text())
    at_peak = heat.filter((pl.col("wbgt_c") - peak).abs() < 0.05).row(0, named=True)
    assert shown == f"At the peak: {describe_wbgt(at_peak)}."
    assert "Liljegren model (lwbgt)" in shown and "W/m²" in shown
