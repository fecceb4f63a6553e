"""Declarative layout of a race-results CSV: which column is the bib, the sex, each split.

One TOML file per layout, no code per race. A bare name ("boston") loads the built-in
src/racecramp/mappings/<name>.toml; anything else is a path. Layout of the file:

    preamble_lines = 0            # lines above the header (race name, date ...)
    delimiter = ","
    encoding = "utf-8-sig"
    times = "cumulative"          # or "per_segment": split cells are summed into running totals
    time_format = "auto"          # H:MM:SS / MM:SS / seconds mixed; or "seconds" only
    missing = ["", "-", "N/A"]    # markers of an empty cell (NBSP and whitespace stripped)
    drop = ["Name", "City"]       # never read: personal or unused data

    sex_pattern = "-([MWF])\\d*$"  # optional: sex is the regex's group 1 inside the sex column ("Mara-W40")

    [columns]                     # role = header text; bib is required, and official_time unless [finish] names a column
    bib = "Bib"
    sex = "M/F"
    age = "Age"                       # or birth_year = "YOB": age = the race's year - birth year
    official_time = "Official Time"   # net (chip) finish time, always a total (also in per_segment files)
    gun_time = "Gun Time"             # optional: gun finish time beside the chip time; gun - chip is the
                                      # runner's start-line delay, which places every split on the wall clock
    wave = "Wave"                     # optional
    declared_finish = "Target"        # optional: declared/target finish time

    [sex_values]                  # file value (or pattern group) -> M / F / X
    M = "M"
    W = "F"

    [dnf]                         # how a non-finisher's row looks
    column = "Official Time"      # default: the official_time column
    values = ["DNF", ""]          # default: the missing markers
    keep_splits = "all"           # or "last": keep only the furthest split of a DNF row

A per-segment row with a gap (a segment cell empty) has no running total from the gap on:
the splits before the gap are kept, the ones after it cannot be placed in race time and are
left out. A finisher with a gap and no official_time column then has no net time and is
quarantined (finisher_has_time); a DNF row keeps the splits it has up to the gap.

    [finish]
    point_id = "finish"
    km = 42.195
    column = "40-Finish"          # per_segment files without a finish time: the last segment's column;
                                  # the net time is then the sum of every segment (no official_time role)

    [[splits]]                    # in course order; km or mile (converted with KM_PER_MILE)
    column = "5K"
    point_id = "mat-05k"
    km = 5.0
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from racecramp.domain import KM_PER_MILE, MARATHON_KM, SEXES
from racecramp.errors import RacecrampError
from racecramp.sources.timeparse import DEFAULT_MISSING, TIME_FORMATS

TIMES = ("cumulative", "per_segment")
KEEP_SPLITS = ("all", "last")
REQUIRED_ROLES = ("bib",)
OPTIONAL_ROLES = ("official_time", "gun_time", "sex", "age", "birth_year", "wave", "declared_finish")
TOP_LEVEL_KEYS = {
    "preamble_lines", "delimiter", "encoding", "times", "time_format", "missing", "drop",
    "columns", "sex_values", "sex_pattern", "dnf", "finish", "splits", "description",
}


class MappingError(RacecrampError, ValueError):
    """The mapping or the file does not fit it; the message names the mapping, key and value."""


@dataclass(frozen=True)
class SplitSpec:
    column: str
    point_id: str
    km: float


@dataclass(frozen=True)
class DnfRule:
    column: str
    values: tuple[str, ...]
    keep_splits: str = "all"


@dataclass(frozen=True)
class ResultsMapping:
    name: str
    columns: dict[str, str]
    splits: tuple[SplitSpec, ...]
    finish: SplitSpec
    dnf: DnfRule
    finish_is_segment: bool = False  # the finish column is the last segment (per_segment, no official_time)
    sex_values: dict[str, str] = field(default_factory=dict)
    sex_pattern: str | None = None
    missing: tuple[str, ...] = DEFAULT_MISSING
    drop: tuple[str, ...] = ()
    preamble_lines: int = 0
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    times: str = "cumulative"
    time_format: str = "auto"

    def mapped_columns(self) -> list[str]:
        """Header columns the reader reads (roles, DNF column, splits), without repeats."""
        wanted = [*self.columns.values(), self.finish.column, self.dnf.column, *(s.column for s in self.splits)]
        return list(dict.fromkeys(wanted))


def load_mapping(name_or_path: str | Path) -> ResultsMapping:
    """A results mapping from a built-in name ("boston") or a TOML file path."""
    text, label = _mapping_text(name_or_path)
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise MappingError(f"mapping {label}: not valid TOML ({err})") from err
    return mapping_from_dict(spec, label)


def mapping_from_dict(spec: dict[str, Any], label: str = "<dict>") -> ResultsMapping:
    """Check and build a mapping from parsed TOML; every error names the key and value."""
    unknown = set(spec) - TOP_LEVEL_KEYS
    if unknown:
        raise MappingError(f"mapping {label}: unknown keys {sorted(unknown)}, expected some of {sorted(TOP_LEVEL_KEYS)}")
    columns = dict(spec.get("columns", {}))
    for role in REQUIRED_ROLES:
        if not columns.get(role):
            raise MappingError(f"mapping {label}: [columns] has no {role}, expected the header text of the {role} column")
    bad_roles = set(columns) - set(REQUIRED_ROLES) - set(OPTIONAL_ROLES)
    if bad_roles:
        raise MappingError(
            f"mapping {label}: [columns] {sorted(bad_roles)} are not roles, expected some of {[*REQUIRED_ROLES, *OPTIONAL_ROLES]}"
        )
    times = spec.get("times", "cumulative")
    if times not in TIMES:
        raise MappingError(f"mapping {label}: times={times!r}, expected one of {', '.join(TIMES)}")
    time_format = spec.get("time_format", "auto")
    if time_format not in TIME_FORMATS:
        raise MappingError(f"mapping {label}: time_format={time_format!r}, expected one of {', '.join(TIME_FORMATS)}")
    missing = tuple(str(m) for m in spec.get("missing", DEFAULT_MISSING))
    sex_values = {str(k): str(v) for k, v in spec.get("sex_values", {s: s for s in SEXES}).items()}
    bad_sex = {k: v for k, v in sex_values.items() if v not in SEXES}
    if bad_sex:
        raise MappingError(f"mapping {label}: [sex_values] {bad_sex} map to values outside {', '.join(SEXES)}")

    if "gun_time" in columns and "official_time" not in columns:
        raise MappingError(f"mapping {label}: [columns] has gun_time but no official_time, expected the chip (net) time as official_time")
    if "age" in columns and "birth_year" in columns:
        raise MappingError(f"mapping {label}: [columns] has both age and birth_year, expected one of them")
    sex_pattern = spec.get("sex_pattern")
    if sex_pattern is not None:
        _check_sex_pattern(sex_pattern, columns, label)

    splits = tuple(_split(entry, f"mapping {label}: splits[{i}]") for i, entry in enumerate(spec.get("splits", [])))
    finish_spec = dict(spec.get("finish", {}))
    finish_spec.setdefault("point_id", "finish")
    if "km" not in finish_spec and "mile" not in finish_spec:
        finish_spec["km"] = MARATHON_KM
    finish_is_segment = "official_time" not in columns
    if finish_is_segment:
        if times != "per_segment" or not finish_spec.get("column"):
            raise MappingError(
                f"mapping {label}: [columns] has no official_time, expected the net finish time column, or a per_segment "
                "file whose [finish] column names the last segment (the net time is then the sum of the segments)"
            )
    elif "column" in finish_spec and finish_spec["column"] != columns["official_time"]:
        raise MappingError(
            f"mapping {label}: [finish] column={finish_spec['column']!r} beside official_time={columns['official_time']!r}, "
            "expected one of them (a finish column is for per_segment files without a finish time)"
        )
    else:
        finish_spec["column"] = columns["official_time"]
    finish = _split(finish_spec, f"mapping {label}: [finish]")

    dnf_spec = dict(spec.get("dnf", {}))
    keep = dnf_spec.get("keep_splits", "all")
    if keep not in KEEP_SPLITS:
        raise MappingError(f"mapping {label}: [dnf] keep_splits={keep!r}, expected one of {', '.join(KEEP_SPLITS)}")
    dnf = DnfRule(
        column=str(dnf_spec.get("column", finish.column)),
        values=tuple(str(v) for v in dnf_spec.get("values", missing)),
        keep_splits=keep,
    )

    drop = tuple(str(c) for c in spec.get("drop", []))
    mapped = [*columns.values(), finish.column, dnf.column, *(s.column for s in splits)]
    both = sorted(set(drop) & set(mapped))
    if both:
        raise MappingError(f"mapping {label}: columns {both} are both mapped and in drop, expected one or the other")
    for what, values in (("split columns", [s.column for s in splits] + ([finish.column] if finish_is_segment else [])), ("point_ids", [s.point_id for s in (*splits, finish)])):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise MappingError(f"mapping {label}: {what} {repeated} appear more than once, expected each once")
    preamble = spec.get("preamble_lines", 0)
    if not isinstance(preamble, int) or preamble < 0:
        raise MappingError(f"mapping {label}: preamble_lines={preamble!r}, expected a whole number >= 0")
    delimiter = spec.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise MappingError(f"mapping {label}: delimiter={delimiter!r}, expected one character")
    return ResultsMapping(
        name=label,
        columns=columns,
        # course order, so "the last split" of a DNF row is the furthest one
        splits=tuple(sorted(splits, key=lambda s: s.km)),
        finish=finish,
        dnf=dnf,
        finish_is_segment=finish_is_segment,
        sex_values=sex_values,
        sex_pattern=sex_pattern,
        missing=missing,
        drop=drop,
        preamble_lines=preamble,
        delimiter=delimiter,
        encoding=str(spec.get("encoding", "utf-8-sig")),
        times=times,
        time_format=time_format,
    )


def _check_sex_pattern(pattern: Any, columns: dict[str, str], label: str) -> None:
    if "sex" not in columns:
        raise MappingError(f"mapping {label}: sex_pattern without a sex column, expected [columns] sex = the column holding it")
    try:
        groups = re.compile(pattern).groups if isinstance(pattern, str) else -1
    except re.error as err:
        raise MappingError(f"mapping {label}: sex_pattern={pattern!r} is not a regular expression ({err})") from None
    if groups != 1:
        raise MappingError(f"mapping {label}: sex_pattern={pattern!r}, expected a regular expression with one group (the sex)")


def _split(entry: dict[str, Any], where: str) -> SplitSpec:
    for key in ("column", "point_id"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise MappingError(f"{where}: {key}={entry.get(key)!r}, expected text")
    if ("km" in entry) == ("mile" in entry):
        raise MappingError(f"{where} ({entry['column']}): expected exactly one of km or mile")
    distance = entry.get("km", entry.get("mile"))
    if isinstance(distance, bool) or not isinstance(distance, (int, float)):
        raise MappingError(f"{where} ({entry['column']}): distance={distance!r}, expected a number")
    km = float(distance) if "km" in entry else float(distance) * KM_PER_MILE
    return SplitSpec(column=entry["column"], point_id=entry["point_id"], km=km)


def _mapping_text(name_or_path: str | Path) -> tuple[str, str]:
    path = Path(name_or_path)
    is_bare_name = isinstance(name_or_path, str) and path.suffix == "" and len(path.parts) == 1
    if is_bare_name:
        res = resources.files("racecramp.sources").joinpath("mappings").joinpath(f"{name_or_path}.toml")
        if not res.is_file():
            raise MappingError(f"mapping {name_or_path!r}: no built-in mapping of that name (src/racecramp/mappings/{name_or_path}.toml)")
        return res.read_text(encoding="utf-8"), str(name_or_path)
    if not path.is_file():
        raise MappingError(f"mapping {str(path)!r}: no such file, expected a TOML file or a built-in name such as 'boston'")
    return path.read_text(encoding="utf-8"), path.name
