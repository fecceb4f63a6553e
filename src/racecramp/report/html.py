"""Render a RaceReport as one self-contained HTML file (inline CSS, charts as inline SVG).

Every number cell carries `data-col` (the mart column it shows) and every table `data-mart`,
so a reader (and the tests) can trace each figure back to its published table.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, Callable

import polars as pl

from racecramp.domain import SLOWDOWN_RATIO, SMALL_COUNT_BELOW
from racecramp.marts.survey import ASSOCIATION_NOTE
from racecramp.report import charts
from racecramp.report.build import RaceReport, Rate

DASH = "—"


def fmt_int(value: Any) -> str:
    return DASH if value is None else f"{int(value):,}"


def fmt_1(value: Any) -> str:
    return DASH if value is None else f"{float(value):.1f}"


def fmt_2(value: Any) -> str:
    return DASH if value is None else f"{float(value):.2f}"


def fmt_pct(value: Any) -> str:
    return DASH if value is None else f"{float(value) * 100:.1f}%"


def fmt_ci(low: Any, high: Any, fmt: Callable[[Any], str] = fmt_1) -> str:
    return DASH if low is None or high is None else f"{fmt(low)}–{fmt(high)}"


@dataclass(frozen=True)
class Col:
    """One table column: header text, source column(s) and how to show the value."""

    header: str
    source: str | tuple[str, str]
    show: Callable[..., str]
    number: bool = True

    @property
    def key(self) -> str:
        return self.source if isinstance(self.source, str) else "ci:" + self.source[0]


def _text(value: Any) -> str:
    return DASH if value is None else str(value)


def _sim(value: Any) -> str:
    return "SIMULATED" if value else ""


def _small(value: Any) -> str:
    return f"&lt;{SMALL_COUNT_BELOW} cases" if value else ""


RATE_COLS = (
    Col("cases", "cases", fmt_int), Col("runners", "runners", fmt_int),
    Col("per 1000", "rate_per_1000", fmt_1), Col("95% CI", ("ci_low_per_1000", "ci_high_per_1000"), fmt_ci),
    Col("note", "small_count", _small, number=False), Col("data", "simulated", _sim, number=False),
)


def table(frame: pl.DataFrame | None, table_id: str, mart: str, cols: tuple[Col, ...], caption: str = "", klass: str = "") -> str:
    """An HTML table of the frame's rows; None means the mart is not published."""
    if frame is None:
        return f"<p class='missing' id='{table_id}-missing'>Not published: snapshot <code>{escape(mart)}</code> is missing.</p>"
    head = "".join(f"<th>{escape(c.header)}</th>" for c in cols)
    body = []
    for row in frame.iter_rows(named=True):
        cells = []
        for c in cols:
            if isinstance(c.source, tuple):
                text = c.show(row.get(c.source[0]), row.get(c.source[1]))
            else:
                text = c.show(row.get(c.source))
            if c.show is not _small:
                text = escape(text)
            align = " class='num'" if c.number else ""
            cells.append(f"<td data-col='{escape(c.key)}'{align}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{caption}</caption>" if caption else ""
    css = f" class='{klass}'" if klass else ""
    return (f"<table id='{table_id}' data-mart='{escape(mart)}'{css}>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _kpi(kpi_id: str, label: str, value: str, detail: str = "") -> str:
    extra = f"<div class='detail'>{detail}</div>" if detail else ""
    return f"<div class='kpi'><div class='label'>{label}</div><div class='value' id='{kpi_id}'>{escape(value)}</div>{extra}</div>"


def _rate_kpi(kpi_id: str, label: str, rate: Rate, denominator_word: str) -> str:
    detail = (f"{fmt_int(rate.count)} / {fmt_int(rate.denominator)} {denominator_word} · 95% CI "
              f"<span id='{kpi_id}-ci'>{fmt_ci(rate.ci_low, rate.ci_high)}</span>")
    return _kpi(kpi_id, label, fmt_1(rate.per_1000), detail)


def _headline(report: RaceReport) -> str:
    h = report.headline
    sim = " <span class='sim'>SIMULATED</span>" if h.simulated else ""
    if h.all_encounters is not None:
        encounters = _kpi("h-all-encounters", "All medical encounters (published)", fmt_int(h.all_encounters),
                          f"all causes, from the race's medical team: <a href='{escape(h.all_encounters_source)}'>source</a>")
    else:
        encounters = _kpi("h-all-encounters", "All medical encounters", "not known",
                          "racecramp records cramp presentations only")
    tiles = [
        _kpi("h-starters", "Starters", fmt_int(h.starters),
             "" if h.starters is not None else "not known: the roster holds finishers only (no DNF rows)"),
        _kpi("h-finishers", "Finishers", fmt_int(h.finishers)),
        _kpi("h-presentations", f"Cramp presentations{sim}", fmt_int(h.presentations), "aid-station and finish-tent reports"),
        _kpi("h-cases", f"Cramp cases{sim}", fmt_int(h.cases), "runners presenting, plus presentations without a bib"),
        *([_rate_kpi("h-per-1000-starters", f"Cases per 1000 starters{sim}", h.per_starters, "starters")]
          if h.per_starters is not None else []),
        _rate_kpi("h-per-1000-finishers", f"Cases per 1000 finishers{sim}", h.per_finishers, "finishers"),
        encounters,
        _kpi("h-transports", f"Transported to hospital{sim}", fmt_int(h.transports)),
    ]
    rows = "".join(
        f"<tr><td>{escape(d.replace('_', ' '))}</td><td class='num' data-col='disposition:{escape(d)}'>{fmt_int(n)}</td></tr>"
        for d, n in h.dispositions.items()
    )
    dispositions = (f"<table id='t-dispositions' data-mart='cramp_reports'><caption>Dispositions of cramp presentations{sim}"
                    f"</caption><thead><tr><th>disposition</th><th>presentations</th></tr></thead><tbody>{rows}</tbody></table>")
    share = ""
    if h.all_encounters:
        share = (f"<p>Cramp presentations were <span id='h-cramp-share'>{fmt_pct(h.presentations / h.all_encounters)}</span> "
                 f"of all published encounters{sim}.</p>")
    return f"<div class='kpis'>{''.join(tiles)}</div>{share}{dispositions}"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _section(section_id: str, title: str, body: str) -> str:
    return f"<section id='{section_id}'><h2>{escape(title)}</h2>{body}</section>"


def _chart_or_note(frame: pl.DataFrame | None, draw: Callable[[pl.DataFrame], str]) -> str:
    if frame is None or frame.height == 0 or frame.filter(pl.col("rate_per_1000").is_not_null()).height == 0:
        return ""
    return f"<figure>{draw(frame)}</figure>"


def _said(frame: pl.DataFrame | None, column: str, default: str) -> str:
    """What a mart's rows say their rate is per (rate_unit) or their denominator counts (denominator_kind)."""
    if frame is None or frame.height == 0 or column not in frame.columns:
        return default
    return ", ".join(dict.fromkeys(str(v) for v in frame[column].drop_nulls().to_list())) or default


def _rates(report: RaceReport) -> str:
    m = report.marts
    distance = m["cramp_rate_by_distance"]
    pace = m["cramp_rate_by_pace_group"]
    wbgt = m["cramp_rate_by_wbgt"]
    parts = [
        "<h3>By distance (course segment between timing mats)</h3>",
        _chart_or_note(distance, lambda f: charts.rate_bars(
            f, "segment", f"Cramp cases {_said(f, 'rate_unit', 'per 1000 runners')} entering the segment", "segment (km)")),
        table(distance, "t-by-distance", "cramp_rate_by_distance",
              (Col("segment (km)", "segment", _text, number=False), *RATE_COLS),
              f"denominator: {_said(distance, 'denominator_kind', 'runners who entered the segment')}"),
    ]
    if pace is not None:
        for grouping, title in (("declared_pace", "By declared pace (min/km)"), ("relative_pace", "By pace so far relative to declared"),
                                ("early_pace", "By observed first-half pace (min/km; the grouping for a roster without declared times)")):
            part = pace.filter(pl.col("grouping") == grouping)
            if part.height == 0:
                continue
            parts += [
                f"<h3>{title}</h3>",
                _chart_or_note(part, lambda f: charts.rate_bars(
                    f, "pace_group", f"Cramped runners {_said(f, 'rate_unit', 'per 1000 runners')}", "pace group")),
                table(part, f"t-by-{grouping.replace('_', '-')}", "cramp_rate_by_pace_group",
                      (Col("pace group", "pace_group", _text, number=False), *RATE_COLS),
                      f"denominator: {_said(part, 'denominator_kind', 'runners in the group')}"),
            ]
    else:
        parts.append(table(None, "t-by-declared-pace", "cramp_rate_by_pace_group", ()))
    parts += [
        "<h3>By WBGT flag at the time</h3>",
        _chart_or_note(wbgt, lambda f: charts.rate_bars(
            f, "wbgt_band", f"Cramp cases {_said(f, 'rate_unit', 'per 1000 runner-hours')} in the band", "WBGT band")),
        table(wbgt, "t-by-wbgt", "cramp_rate_by_wbgt",
              (Col("flag", "wbgt_flag", _text, number=False), Col("WBGT", "wbgt_band", _text, number=False),
               Col("runner-hours", "runner_hours", fmt_1), *RATE_COLS),
              "rate per 1000 runner-hours spent on course in that WBGT band (person-time at risk); exact Poisson 95% CI"),
        "<h3>By sex and age band</h3>",
        table(m["cramp_rate_by_sex_age"], "t-by-sex-age", "cramp_rate_by_sex_age",
              (Col("sex", "sex", _text, number=False), Col("age", "age_band", _text, number=False), *RATE_COLS),
              f"denominator: {_said(m['cramp_rate_by_sex_age'], 'denominator_kind', 'runners in the group')}"),
    ]
    return "".join(parts)


def _stations(report: RaceReport) -> str:
    return table(report.marts["cramp_rate_by_station"], "t-by-station", "cramp_rate_by_station",
                 (Col("station", "point_id", _text, number=False), Col("kind", "kind", _text, number=False),
                  Col("km", "km", fmt_1), *RATE_COLS),
                 f"denominator: {_said(report.marts['cramp_rate_by_station'], 'denominator_kind', 'runners who passed the station')}")


def _timeline(report: RaceReport) -> str:
    if report.timeline.height == 0:
        return "<p>No cramp presentations and no wave start: nothing to draw.</p>"
    sim = bool(report.timeline["simulated"].any())
    peak = report.wbgt["wbgt_c"].max() if report.wbgt.height else None
    at_peak = report.wbgt.filter(pl.col("wbgt_c") == peak).row(0, named=True) if peak is not None else None
    methods = ", ".join(f"{m} {n}" for m, n in report.wbgt.group_by("wbgt_method").len().sort("wbgt_method").iter_rows()
                        if m is not None)
    text = (f"<p>{fmt_int(int(report.timeline['presentations'].sum()))} presentations in 15-minute buckets, "
            f"local time. Peak WBGT in the window: <span id='timeline-peak-wbgt'>{fmt_1(peak)}</span> °C "
            f"({len(report.wbgt)} observations; method: {escape(methods) or 'none'}).</p>")
    if at_peak is not None:
        text += f"<p id='timeline-peak-wbgt-inputs'>At the peak: {escape(at_peak['wbgt_inputs'])}.</p>"
    return text + f"<figure>{charts.timeline(report.timeline, report.wbgt, report.race['timezone'], sim)}</figure>"


def _slowdown(report: RaceReport) -> str:
    s = report.slowdown
    if s is None:
        return "<p class='missing'>Not published: <code>late_slowdown_by_edition</code> has no row for this race.</p>"
    head = (f"<p>Of <span id='slowdown-runners'>{fmt_int(s['runners'])}</span> finishers with 5K, 20K, 35K and 40K splits, "
            f"<span id='slowdown-slowed'>{fmt_int(s['slowed'])}</span> ran 35→40 km more than {SLOWDOWN_RATIO:g}× slower "
            f"than their own 5→20 km pace: <strong id='slowdown-share'>{fmt_pct(s['share'])}</strong> "
            f"(95% CI <span id='slowdown-ci'>{fmt_ci(s['ci_low'], s['ci_high'], fmt_pct)}</span>). A late pace drop marks "
            "muscle damage, which precedes cramping; it is computed from real split times.</p>")
    band = report.marts["late_slowdown_by_finish_band"]
    chart = f"<figure>{charts.share_bars(band, 'finish_band', 'Late slowdown by finish time', 'official finish time')}</figure>" if band is not None and band.height else ""
    tab = table(band, "t-slowdown-by-band", "late_slowdown_by_finish_band", (
        Col("finish time", "finish_band", _text, number=False), Col("finishers", "runners", fmt_int), Col("slowed", "slowed", fmt_int),
        Col("share", "share", fmt_pct), Col("95% CI", ("ci_low", "ci_high"), lambda a, b: fmt_ci(a, b, fmt_pct)),
        Col("median late/early pace", "median_ratio", fmt_2),
    ))
    return head + chart + tab


def _survey(report: RaceReport) -> str:
    factors = report.marts["survey_risk_factors"]
    prevalence = report.survey_prevalence
    warning = (f"<div class='warning' id='causal-warning'><strong>Do not read these as causes.</strong> {escape(ASSOCIATION_NOTE)}: "
               "respondents chose to answer, after the race, and nobody was assigned a factor. An odds ratio above 1 means "
               "respondents with the factor reported cramping more often, nothing more; confounders such as pace, age and "
               "experience are not adjusted for.</div>")
    if prevalence is None:
        intro = "<p>No survey answers for this race.</p>"
    else:
        sim = " <span class='sim'>SIMULATED</span>" if factors is not None and factors.height and bool(factors["simulated"].any()) else ""
        intro = (f"<p>{fmt_int(prevalence.denominator)} finishers answered; <span id='survey-cramped'>{fmt_int(prevalence.count)}</span> "
                 f"reported cramping: <strong id='survey-prevalence'>{fmt_1(prevalence.per_1000 / 10)}%</strong> "
                 f"(95% CI {fmt_1(prevalence.ci_low / 10)}–{fmt_1(prevalence.ci_high / 10)}%){sim}.</p>")
    chart = f"<figure>{charts.odds_ratios(factors)}</figure>" if factors is not None and factors["odds_ratio"].drop_nulls().len() else ""
    tab = table(factors, "t-survey", "survey_risk_factors", (
        Col("exposed means", "exposed_means", _text, number=False), Col("exposed", "exposed_n", fmt_int),
        Col("of whom cramped", "exposed_cramped", fmt_int), Col("unexposed", "unexposed_n", fmt_int),
        Col("of whom cramped", "unexposed_cramped", fmt_int), Col("odds ratio", "odds_ratio", fmt_2),
        Col("95% CI", ("or_ci_low", "or_ci_high"), lambda a, b: fmt_ci(a, b, fmt_2)), Col("data", "simulated", _sim, number=False),
    ))
    return warning + intro + chart + tab


def _comparison(report: RaceReport) -> str:
    frame = report.comparison
    earlier = frame.filter(pl.col("race_id") != report.race["race_id"])
    if earlier.height == 0:
        note = (f"<p id='comparison-none'>No earlier edition of the <strong>{escape(report.series)}</strong> series is in the "
                "warehouse: import one (racecramp import race/results) to compare.</p>")
    else:
        note = (f"<p>Every edition of the <strong>{escape(report.series)}</strong> series in the warehouse up to this one "
                f"({', '.join(escape(r) for r in earlier['race_id'].to_list())} earlier). The same counting rules apply to each.</p>")
    chart = f"<figure>{charts.comparison(frame)}</figure>" if frame.height > 1 else ""
    tab = table(frame, "t-comparison", "comparison", (
        Col("edition", "race_id", _text, number=False),
        Col("starters", "starters", fmt_int), Col("finishers", "finishers", fmt_int),
        Col("presentations", "presentations", fmt_int), Col("cases", "cases", fmt_int),
        Col("/1000 starters", "per_1000_starters", fmt_1), Col("/1000 finishers", "per_1000_finishers", fmt_1),
        Col("95% CI", ("ci_low_per_1000", "ci_high_per_1000"), fmt_ci), Col("CI of", "denominator_kind", _text, number=False), Col("transported", "transports", fmt_int),
        Col("late slowdown", "late_slowdown_share", fmt_pct), Col("peak WBGT °C", "peak_wbgt_c", fmt_1),
        Col("data", "simulated", _sim, number=False),
    ), klass="compact")
    return note + chart + tab


def _quality(report: RaceReport) -> str:
    text = (f"<p><span id='q-race'>{fmt_int(int(report.quarantine['records'].sum()) if report.quarantine.height else 0)}</span> "
            f"quarantined records name this race; <span id='q-total'>{fmt_int(report.quarantine_total)}</span> are quarantined "
            f"in the warehouse in all, <span id='q-unattributed'>{fmt_int(report.quarantine_unattributed)}</span> of them naming "
            "no race. A quarantined record is kept with its reason and counted nowhere else "
            "(<code>racecramp sql -c \"SELECT message FROM quarantine\"</code>).</p>")
    if report.quarantine.height == 0:
        return text
    return text + table(report.quarantine, "t-quarantine", "quarantine", (
        Col("source", "source", _text, number=False), Col("check", "check", _text, number=False), Col("records", "records", fmt_int),
    ))


METHODS = f"""
<dl class='methods'>
<dt>Cramp presentation</dt><dd>An aid-station or finish-tent cramp report (source <code>aid_station</code> or
<code>finish_tent</code>), counted once per <code>report_id</code> (client retries reuse it). Survey answers are not
presentations.</dd>
<dt>Cramp case</dt><dd>A runner with at least one presentation, plus each presentation without a bib (it cannot be linked to a
runner). The rate marts count the same way.</dd>
<dt>Starters, finishers</dt><dd>Starters are the race's participants rows; finishers those with <code>finished</code>.
Published results files list finishers only: when every participant finished the roster holds finishers only, the starters are
not known, and every rate says "per 1000 finishers".</dd>
<dt>Rates</dt><dd>Per 1000 of the stated denominator, with a Wilson score 95% CI (Brown, Cai &amp; DasGupta 2001). Rows with
fewer than {SMALL_COUNT_BELOW} cases are marked; read them as "few", not as a rate. Rates per 1000 starters follow the 2019
consensus on mass-participation events (BJSM 53:1048); per 1000 finishers is given because much of the literature uses it.</dd>
<dt>By distance</dt><dd>Cases in each segment between consecutive timing mats over runners who entered it.</dd>
<dt>By pace group</dt><dd>Runners' first bib-linked report over the roster's runners in the band: declared pace (min/km), pace so far
relative to declared (below 0.95 = faster than declared), and, for rosters without declared times, the observed first-half pace.</dd>
<dt>By WBGT</dt><dd>Each report banded by the ACSM flag of the WBGT as of its time, per 1000 runner-hours spent on course in
that band (each runner from the start crossing to the furthest point passed, summed per minute; exact Poisson 95% CI): the
hours in a band, not the passings, are what a runner was exposed to. WBGT at a time is interpolated between the feed's readings before and after it.
It is estimated, not measured: by the Liljegren model (lwbgt) from air temperature, humidity, 10 m wind, pressure and solar
irradiance (the feed's, else pvlib clear sky reduced for cloud cover), and by the simple BoM or overcast estimate only where an
input is missing (labelled so; docs/heat.md gives both and their error).</dd>
<dt>Late slowdown</dt><dd>Finishers whose 35→40 km pace is more than {SLOWDOWN_RATIO:g}× their 5→20 km pace
(docs/late_slowdown.md).</dd>
<dt>Survey risk factors</dt><dd>Odds ratio of cramping for respondents with vs without each factor, Woolf 95% CI, Haldane
correction for zero cells. Association among self-selected respondents, not causation.</dd>
<dt>Earlier editions</dt><dd>Races whose <code>race_id</code> is this one's without the trailing year (boston-2017 and
boston-2018 are the series <code>boston</code>), dated on or before this race.</dd>
<dt>SIMULATED</dt><dd>Rows produced by racecramp's documented cramp model carry <code>simulated = true</code>; every figure
built from one is labelled SIMULATED. They show how the report works, not what happened.</dd>
<dt>Sources</dt><dd>Published snapshots (<code>snapshots/*.parquet</code>) written after the last ingest; the consensus-style
CSVs beside this file hold every presentation and its rates per 1000 starters, or finishers when that is what the roster holds
(<code>denominator_kind</code>; docs/report.md).</dd>
</dl>
"""

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1a1a1a;max-width:1000px;margin:1.5rem auto;padding:0 1rem;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #c62828;padding-bottom:.2rem;margin-top:2rem}h3{margin-bottom:.3rem}
.meta{color:#555}.banner{background:#fff3cd;border:2px solid #b26a00;color:#5c3b00;padding:.6rem 1rem;border-radius:8px;font-weight:700;margin:1rem 0}
.sim{background:#b26a00;color:#fff;border-radius:4px;padding:0 .3rem;font-size:.75em;font-weight:700;vertical-align:middle}
.kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:.6rem;margin:.8rem 0}
.kpi{border:1px solid #ccc;border-radius:8px;padding:.5rem .7rem}.kpi .label{font-size:.85rem;color:#444}
.kpi .value{font-size:1.6rem;font-weight:700}.kpi .detail{font-size:.75rem;color:#555}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.85rem}caption{text-align:left;color:#555;font-size:.8rem;padding-bottom:.2rem}
th,td{border-bottom:1px solid #ddd;padding:.2rem .45rem;text-align:left;vertical-align:bottom}td{white-space:nowrap}table.compact{font-size:.78rem}table.compact th,table.compact td{padding:.2rem .3rem}td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}figure{margin:.5rem 0}svg{max-width:100%;height:auto}
.warning{background:#fdecea;border-left:6px solid #c62828;padding:.6rem 1rem;margin:.6rem 0}
.missing{color:#8a4b00}.methods dt{font-weight:700;margin-top:.4rem}.methods dd{margin-left:1rem}
@media print{body{max-width:none;margin:0}section{break-inside:auto}figure,table{break-inside:avoid}}
"""


def render_html(report: RaceReport) -> str:
    """The whole report as one HTML document."""
    race = report.race
    tz = race["timezone"]
    sim_banner = ""
    if report.simulated:
        sim_banner = (f"<div class='banner' id='simulated-banner'>SIMULATED DATA: the {escape(_and(report.simulated_parts))} "
                      "in this report come from racecramp's cramp model, not from the race. Figures marked SIMULATED show "
                      "how the report works, not what happened.</div>")
    closed = ""
    if report.closures:
        last = report.closures[-1]
        closed = f" Closed {escape(charts.local(last['closed_at_utc'], tz))} by {escape(str(last['closed_by']))}."
    meta = (f"<p class='meta'>{escape(str(race['date']))} · {fmt_1(race['distance_km'])} km · {escape(tz)} · race "
            f"<code>{escape(race['race_id'])}</code> · series <code>{escape(report.series)}</code><br>"
            f"Data as of {escape(charts.local(report.data_as_of_utc, tz))}; report generated "
            f"{escape(charts.local(report.generated_at_utc, tz))}.{closed}</p>")
    sections = [
        _section("headline", "Headline", _headline(report)),
        _section("rates", "Cramp rates", _rates(report)),
        _section("stations", "Stations", _stations(report)),
        _section("timeline", "Timeline: presentations against WBGT", _timeline(report)),
        _section("slowdown", "Late slowdown", _slowdown(report)),
        _section("survey", "Finisher survey: risk factors", _survey(report)),
        _section("comparison", "Comparison with earlier editions", _comparison(report)),
        _section("data-quality", "Data quality", _quality(report)),
        _section("methods", "Methods and definitions", METHODS),
    ]
    title = f"{race['name']} {race['date'].year if hasattr(race['date'], 'year') else race['date']} · post-race cramp report"
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1>{meta}{sim_banner}{''.join(sections)}</body></html>")

