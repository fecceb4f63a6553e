"""Mapped CSV reader for cramp-report logs and finisher surveys (paper logs typed into a
spreadsheet, a survey tool's export). A TOML mapping renames columns, maps values, marks
missing values and says which time zone naive timestamps are in; no code per layout.

Mapping TOML:
    kind = "reports"                 # or "survey"
    preamble_lines = 0
    delimiter = ","
    timezone = "America/New_York"   # for timestamps without an offset
    timestamp_format = "%Y-%m-%d %H:%M"   # optional; ISO 8601 when absent
    missing = ["", "-", "N/A"]
    [columns]                        # canonical column = source column
    bib = "Bib #"
    [values.disposition]             # canonical column -> {source value: canonical value}
    "back in race" = "returned_to_race"
    [defaults]                       # constant values for columns the file lacks
    source = "aid_station"
"""

from __future__ import annotations

import csv
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from racecramp.domain import MASKED, MUSCLE_GROUPS
from racecramp.landing.kinds import KINDS
from racecramp.sources.mapping import MappingError

NBSP = "\u00a0"
# Fixed namespace: a report without an id gets uuid5(namespace, file + row), so importing
# the same log twice gives the same report_ids and stores each report once.
REPORT_ID_NAMESPACE = uuid.UUID("6f1c3c64-7d0e-4c55-9a35-2f8f0a4f1e10")


# Columns the pipeline sets itself: a mapping may not read them from the file.
ASSIGNED_COLUMNS = ("entered_by",)
MUSCLE_PLURALS = {"calves": "calf", "hamstrings": "hamstring", "quads": "quadriceps", "quad": "quadriceps", "feet": "foot",
                  "hips": "hip", "abdominals": "abdominal", "abs": "abdominal", **{m + "s": m for m in MUSCLE_GROUPS}}


@dataclass
class TabularMapping:
    kind: str
    columns: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=lambda: ["", "-", "N/A", "NA"])
    preamble_lines: int = 0
    delimiter: str = ","
    timezone: str = "UTC"
    timestamp_format: str | None = None


def load_tabular_mapping(name_or_path: str | Path) -> TabularMapping:
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text = path.read_text()
    else:
        res = resources.files("racecramp.sources").joinpath("mappings").joinpath(f"{name_or_path}.toml")
        if not res.is_file():
            raise MappingError(f"mapping {name_or_path!r}: no such file and no built-in mapping of that name")
        text = res.read_text()
    spec = tomllib.loads(text)
    kind = spec.get("kind")
    if kind not in ("reports", "survey"):
        raise MappingError(f"mapping {name_or_path}: kind={kind!r}, expected 'reports' or 'survey'")
    unknown = set(spec.get("columns", {})) - set(KINDS[kind].schema)
    if unknown:
        raise MappingError(f"mapping {name_or_path}: columns {sorted(unknown)} are not {kind} columns ({', '.join(KINDS[kind].schema)})")
    assigned = set(spec.get("columns", {})) & set(ASSIGNED_COLUMNS)
    if assigned:
        raise MappingError(f"mapping {name_or_path}: {', '.join(sorted(assigned))} is set from who sends the file "
                           f"(import:<file name>), never read from a column: remove it from [columns]")
    return TabularMapping(
        kind=kind,
        columns=dict(spec.get("columns", {})),
        values={k: dict(v) for k, v in spec.get("values", {}).items()},
        defaults=dict(spec.get("defaults", {})),
        missing=list(spec.get("missing", ["", "-", "N/A", "NA"])),
        preamble_lines=int(spec.get("preamble_lines", 0)),
        delimiter=spec.get("delimiter", ","),
        timezone=spec.get("timezone", "UTC"),
        timestamp_format=spec.get("timestamp_format"),
    )


def read_mapped_csv(path: Path, mapping: TabularMapping, race_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Records in canonical column names (values as text, typed later by the ingest).

    Returns (records, ignored_columns). Each record carries `_source_row` for messages.
    """
    path = Path(path)
    zone = ZoneInfo(mapping.timezone)
    time_cols = [c for c, t in KINDS[mapping.kind].schema.items() if str(t).startswith("Datetime")]
    personal = {c.name: c.pattern for c in KINDS[mapping.kind].columns if c.personal and c.pattern}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for _ in range(mapping.preamble_lines):
            fh.readline()
        reader = csv.reader(fh, delimiter=mapping.delimiter)
        header = [h.replace(NBSP, " ").strip() for h in next(reader)]
        missing_cols = [src for src in mapping.columns.values() if src not in header]
        if missing_cols:
            raise MappingError(f"{path.name}: columns {missing_cols} named in the mapping are not in the header {header}")
        index = {h: i for i, h in enumerate(header)}
        ignored = [h for h in header if h not in mapping.columns.values()]
        records = []
        for line_no, row in enumerate(reader, start=mapping.preamble_lines + 2):
            if not any(cell.strip() for cell in row):
                continue
            record: dict[str, Any] = {"race_id": race_id, **mapping.defaults}
            for canonical, src in mapping.columns.items():
                cell = row[index[src]] if index[src] < len(row) else ""
                value = cell.replace(NBSP, " ").strip()
                if value in mapping.missing:
                    record[canonical] = None
                    continue
                value = mapping.values.get(canonical, {}).get(value, value)
                if canonical in time_cols:
                    value = _to_utc_text(value, zone, mapping.timestamp_format)
                if canonical == "muscles":
                    value = muscle_list(value, mapping.values.get("muscle_group", {}))
                record[canonical] = masked_if_not(canonical, value, personal)
            if mapping.kind == "reports":
                record["entered_by"] = f"import:{path.name}"
                if not record.get("report_id"):
                    record["report_id"] = str(uuid.uuid5(REPORT_ID_NAMESPACE, f"{race_id}/{path.name}/{line_no}"))
            record["_source_row"] = line_no
            records.append(record)
    return records, ignored


def muscle_list(answer: str, synonyms: dict[str, str]) -> str:
    """'Calves; Hamstrings' -> 'calf,hamstring': a survey tool's free answer as the known groups,
    comma-separated (a word that is no muscle group is kept, and fails its check at the ingest)."""
    parts = [p.strip().lower() for p in re.split(r"[,;/+&]| and ", answer) if p.strip()]
    lowered = {k.lower(): v for k, v in synonyms.items()}
    return ",".join(dict.fromkeys(lowered.get(p, MUSCLE_PLURALS.get(p, p)) for p in parts))


def masked_if_not(column: str, value: Any, patterns: dict[str, str]) -> Any:
    """A value of a column that may hold a name is read only when it fits the column: a bib that is
    not a bib code (a name typed into the bib column) is masked here, before it lands anywhere."""
    pattern = patterns.get(column)
    if pattern is None or value is None or re.fullmatch(pattern, str(value)):
        return value
    return MASKED.format(n=len(str(value)))


def _to_utc_text(value: str, zone: ZoneInfo, fmt: str | None) -> str:
    """Timestamps without an offset are local to the mapping's time zone; unparsable text is
    passed on unchanged so the ingest quarantines it with its value."""
    try:
        parsed = datetime.strptime(value, fmt) if fmt else datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(ZoneInfo("UTC")).isoformat()
