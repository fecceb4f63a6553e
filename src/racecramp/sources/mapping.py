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

    [columns]                     # role = header text; bib and official_time are required
    bib = "Bib"
    sex = "M/F"
    age = "Age"
    official_time = "Official Time"   # net finish time, always a total (also in per_segment files)
    wave = "Wave"                     # optional
    declared_finish = "Target"        # optional: declared/target finish time

    [sex_values]                  # file value -> M / F / X
    M = "M"
    W = "F"

    [dnf]                         # how a non-finisher's row looks
    column = "Official Time"      # default: the official_time column
    values = ["DNF", ""]          # default: the missing markers
    keep_splits = "all"           # or "last": keep only the furthest split of a DNF row

    [finish]
    point_id = "finish"
    km = 42.195

    [[splits]]                    # in course order; km or mile (converted with KM_PER_MILE)
    column = "5K"
    point_id = "mat-05k"
    km = 5.0
"""

from __future__ import annotations

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
REQUIRED_ROLES = ("bib", "official_time")
OPTIONAL_ROLES = ("sex", "age", "wave", "declared_finish")
TOP_LEVEL_KEYS = {
    "preamble_lines", "delimiter", "encoding", "times", "time_format", "missing", "drop",
    "columns", "sex_values", "dnf", "finish", "splits", "description",
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
    sex_values: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = DEFAULT_MISSING
    drop: tuple[str, ...] = ()
    preamble_lines: int = 0
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    times: str = "cumulative"
    time_format: str = "auto"

    def mapped_columns(self) -> list[str]:
        """Header columns the reader reads (roles, DNF column, splits), without repeats."""
        wanted = [*self.columns.values(), self.dnf.column, *(s.column for s in self.splits)]
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

    splits = tuple(_split(entry, f"mapping {label}: splits[{i}]") for i, entry in enumerate(spec.get("splits", [])))
    finish_spec = dict(spec.get("finish", {}))
    finish_spec.setdefault("point_id", "finish")
    if "km" not in finish_spec and "mile" not in finish_spec:
        finish_spec["km"] = MARATHON_KM
    finish_spec["column"] = columns["official_time"]
    finish = _split(finish_spec, f"mapping {label}: [finish]")

    dnf_spec = dict(spec.get("dnf", {}))
    keep = dnf_spec.get("keep_splits", "all")
    if keep not in KEEP_SPLITS:
        raise MappingError(f"mapping {label}: [dnf] keep_splits={keep!r}, expected one of {', '.join(KEEP_SPLITS)}")
    dnf = DnfRule(
        column=str(dnf_spec.get("column", columns["official_time"])),
        values=tuple(str(v) for v in dnf_spec.get("values", missing)),
        keep_splits=keep,
    )

    drop = tuple(str(c) for c in spec.get("drop", []))
    mapped = [*columns.values(), dnf.column, *(s.column for s in splits)]
    both = sorted(set(drop) & set(mapped))
    if both:
        raise MappingError(f"mapping {label}: columns {both} are both mapped and in drop, expected one or the other")
    for what, values in (("split columns", [s.column for s in splits]), ("point_ids", [s.point_id for s in (*splits, finish)])):
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
        sex_values=sex_values,
        missing=missing,
        drop=drop,
        preamble_lines=preamble,
        delimiter=delimiter,
        encoding=str(spec.get("encoding", "utf-8-sig")),
        times=times,
        time_format=time_format,
    )


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
