"""Write the post-race report files: read the published snapshots, build, render, save.

Output, per race, in the report directory (default `<data_dir>/reports`):
  report-<race_id>.html                      self-contained (inline CSS and SVG)
  report-<race_id>.pdf                       with --format pdf (Chromium headless print)
  consensus-encounters-<race_id>.csv         one row per cramp encounter, consensus categories
  consensus-rates-<race_id>.csv              encounters per 1000 starters (or finishers) by category
Each file is written to a temporary name and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from racecramp.config import Settings
from racecramp.durable import atomic_write
from racecramp.publish.snapshots import read_manifest, read_published, snapshot_path
from racecramp.report.build import REPORT_TABLES, build_report
from racecramp.report.consensus import consensus_encounters, consensus_rates
from racecramp.report.html import render_html
from racecramp.spreadsheet import write_csv

# Where reports go unless --out says otherwise (a `report_dir` setting would replace this).
REPORT_DIR_NAME = "reports"
FORMATS = ("html", "pdf")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--no-pdf-header-footer")
PDF_TIMEOUT_S = 120


@dataclass
class WrittenReport:
    race_id: str
    files: dict[str, Path] = field(default_factory=dict)  # html, pdf, consensus_encounters, consensus_rates


def report_dir(settings: Settings) -> Path:
    """settings.report_dir, else <data_dir>/reports."""
    return Path(settings.report_dir) if settings.report_dir else Path(settings.data_dir) / REPORT_DIR_NAME


def load_frames(snapshot_dir: Path) -> dict[str, pl.DataFrame | None]:
    """The published snapshot tables the report reads; None for one not published."""
    frames: dict[str, pl.DataFrame | None] = {}
    for table in REPORT_TABLES:
        frames[table] = read_published(snapshot_path(snapshot_dir, table))
    return frames


def html_to_pdf(html_path: Path, pdf_path: Path, chromium: str = CHROMIUM) -> Path:
    """Print the HTML file to PDF with Chromium headless; raises with Chromium's output if it fails."""
    if shutil.which(chromium) is None:
        raise FileNotFoundError(f"PDF needs Chromium at {chromium} (apt-get install chromium); the HTML report is at {html_path}")

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="racecramp-chromium-") as profile:
            done = subprocess.run(
                [chromium, *CHROMIUM_ARGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}", html_path.resolve().as_uri()],
                capture_output=True, text=True, timeout=PDF_TIMEOUT_S, check=False,
            )
        if done.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            raise RuntimeError(f"chromium could not print {html_path} to PDF (exit {done.returncode}): {done.stderr[-2000:]}")

    atomic_write(pdf_path, write)
    return pdf_path


def write_report(settings: Settings, race_id: str, formats: tuple[str, ...] = ("html",), out_dir: Path | None = None) -> WrittenReport:
    """Build the race's report from the published snapshots and write it (and the consensus CSVs)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"report format {unknown[0]!r}: expected one of {', '.join(FORMATS)}")
    out = Path(out_dir) if out_dir is not None else report_dir(settings)
    frames = load_frames(settings.snapshot_dir)
    report = build_report(frames, race_id, read_manifest(settings.snapshot_dir))
    written = WrittenReport(race_id)
    html_path = out / f"report-{race_id}.html"
    page = render_html(report)
    atomic_write(html_path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    written.files["html"] = html_path
    encounters = consensus_encounters(frames["cramp_reports"], frames["participants"], frames["races"], race_id)
    head = report.headline
    rates = consensus_rates(encounters, head.starters if head.starters is not None else head.finishers, race_id,
                            head.roster_holds)
    for name, frame in (("consensus_encounters", encounters), ("consensus_rates", rates)):
        path = out / f"{name.replace('_', '-')}-{race_id}.csv"
        write_csv(frame, path)  # formulas neutralised (racecramp.spreadsheet)
        written.files[name] = path
    if "pdf" in formats:
        written.files["pdf"] = html_to_pdf(html_path, out / f"report-{race_id}.pdf")
    return written
