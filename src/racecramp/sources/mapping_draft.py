"""A draft results mapping (sources.mapping's TOML) from a file's first lines, for a person to
review: the encoding, delimiter and preamble; the bib, sex (also inside a category such as
`Mara-W40`), age or birth year, wave and target columns; every time column with the distance
its header names (5K, 10km, KM 10, hm, Half, 13.1M, 21M, Mile 5, 10-HM, 40km-Ziel, split_3 …);
cumulative or per-segment from the values; the time format; missing and DNF/DSQ markers.

Pure functions over the header and sample rows; `draft_mapping_file` reads the file's head.
Name, club and town columns are put in `drop`, never mapped.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from racecramp.domain import HALF_KM, KM_PER_MILE, MARATHON_KM, POINT_KM_TOLERANCE, PointKind
from racecramp.sources.mapping import MappingError, mapping_from_dict
from racecramp.sources.race_definition import mat_point_id
from racecramp.sources.timeparse import NBSP, parse_durations

HEAD_BYTES = 256 * 1024
SAMPLE_ROWS = 500
DELIMITERS = (",", ";", "\t", "|")
FINISH = "finish"  # a header's distance is the finish (Ziel, Arrivée, 40km-Finish …)
START = "start"
# Paces a runner can hold over a split (s/km): faster than 2:50/km beats the world record, and
# slower than 20:00/km is walking with stops. A reading of the times outside this is wrong.
PLAUSIBLE_PACE_S_PER_KM = (170.0, 1200.0)

_WORDS_BIB = ("bib", "bib no", "bib number", "bib#", "startnr", "start nr", "startnummer", "stnr", "dossard", "dorsal",
              "pettorale", "number", "no", "nr", "#")
_WORDS_SEX = ("sex", "gender", "m/f", "mf", "geschlecht", "sexe", "sexo", "sesso", "g")
_WORDS_CATEGORY = ("category", "cat", "kategorie", "klasse", "ak", "altersklasse", "division", "class", "age group",
                   "agegroup", "categorie", "catégorie", "wertung")
_WORDS_AGE = ("age", "alter", "âge", "edad", "eta")
_WORDS_BIRTH = ("yob", "year of birth", "birth year", "birthyear", "jahrgang", "jg", "geburtsjahr", "born", "annee",
                "année", "année de naissance", "ano", "anno")
_WORDS_WAVE = ("wave", "start wave", "welle", "startwelle", "vague", "onda")
_WORDS_TARGET = ("target", "target time", "declared", "declared time", "predicted", "estimated finish", "est finish",
                 "wunschzeit", "zielzeit geplant")
_WORDS_STATUS = ("status", "state", "result status", "wertungsstatus", "statut", "estado")
_WORDS_FINISH = ("finish", "finish time", "official", "official time", "time", "final time", "ziel", "zielzeit", "endzeit",
                 "arrivee", "arrivée", "meta", "tiempo", "temps", "result")
_NET = ("net", "netto", "chip", "nettozeit", "temps net", "tiempo neto", "real")
_GUN = ("gun", "brutto", "bruttozeit", "clock", "temps officiel", "tiempo oficial")
# Headers never mapped: personal data, or derived/unused numbers.
_DROP_PARTS = ("name", "vorname", "nachname", "nom", "prenom", "prénom", "surname", "club", "verein", "team", "city",
               "ort", "town", "state", "country", "nation", "land", "citizen", "email", "e-mail", "phone", "address",
               "pace", "place", "rank", "platz", "overall", "pos", "proj", "speed", "km/h", "min/km", "shoe", "gender place")
_STATUS_DNF = ("dnf", "dsq", "dns", "did not finish", "disq", "disqualified", "aufgabe", "aufgegeben", "abandon", "ab", "dq")
_MISSING_CANDIDATES = ("-", "--", "—", "–", "n/a", "na", "nan", "null", ":", "--:--", "-:--:--", "?")
_SEX_VALUES = {"m": "M", "male": "M", "man": "M", "men": "M", "mann": "M", "männlich": "M", "h": "M", "homme": "M",
               "f": "F", "w": "F", "female": "F", "woman": "F", "women": "F", "frau": "F", "weiblich": "F", "femme": "F",
               "dame": "F", "x": "X", "d": "X", "divers": "X", "nb": "X", "non-binary": "X", "nonbinary": "X"}
_SEX_IN_CATEGORY = r"^[A-Za-z]*[-_ ]?([MWFX])(?:\d{0,3}|[-_ ].*)$"


@dataclass(frozen=True)
class FileHead:
    """What the drafter reads: the encoding, delimiter, preamble lines, header and sample rows."""

    encoding: str
    delimiter: str
    preamble: list[str]
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Mat:
    """A timing point of the race: its point_id and km (from the race file, when given)."""

    point_id: str
    km: float


@dataclass
class DraftMapping:
    spec: dict
    toml: str
    review: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading the head


def _decode(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError as err:
        if err.start >= len(raw) - 4:  # the head cut a multi-byte character in two
            return raw[: err.start].decode("utf-8-sig"), "utf-8-sig"
    return raw.decode("cp1252", errors="replace"), "cp1252"


def _fields(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def file_head(text: str, encoding: str) -> FileHead:
    """Delimiter, preamble, header and sample rows of a results file's text."""
    lines = [line for line in text.splitlines()][: SAMPLE_ROWS + 50]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line may be cut off by the head
    filled = [line for line in lines if line.strip()]
    if not filled:
        raise MappingError("the file is empty, expected a header and data rows")

    def score(delimiter: str) -> tuple[int, int]:
        counts = [len(_fields(line, delimiter)) for line in filled[-50:]]
        modal = statistics.mode(counts)
        return (sum(c == modal for c in counts) if modal > 1 else 0, modal)

    delimiter = max(DELIMITERS, key=score)
    width = score(delimiter)[1]
    for index, line in enumerate(lines):
        cells = [c.replace(NBSP, " ").strip() for c in _fields(line, delimiter)]
        if len(cells) == width and _looks_like_header(cells):
            break
    else:
        raise MappingError(f"no header line found: expected a line of {width} column names (with a bib column) above the rows")
    rows = [_fields(line, delimiter) for line in lines[index + 1:] if line.strip()]
    return FileHead(encoding, delimiter, lines[:index], cells, [r for r in rows if len(r) == width])


def _looks_like_header(cells: list[str]) -> bool:
    words = [_norm(c) for c in cells]
    if any(w in _WORDS_BIB for w in words):
        return True
    named = [c for c in cells if c]
    return len(named) >= 0.8 * len(cells) and not any(re.fullmatch(r"[\d:.,\s]+", c) for c in named)


def draft_mapping_file(path: Path, race_file: Path | None = None) -> DraftMapping:
    """Read a results file's head (and the race file's timing mats) and draft its mapping."""
    with open(path, "rb") as fh:
        raw = fh.read(HEAD_BYTES)
    text, encoding = _decode(raw)
    head = file_head(text, encoding)
    mats, finish_km = None, None
    if race_file is not None:
        from racecramp.sources.race import read_race

        races, course = read_race(race_file)
        finish_km = float(races["distance_km"][0])
        timing = course.filter(pl.col("kind") == PointKind.TIMING_MAT.value).with_columns(pl.col("km").cast(pl.Float64))
        mats = [Mat(p, k) for p, k in timing.select("point_id", "km").sort("km").iter_rows()]
    return draft_mapping(head, Path(path).name, mats, finish_km)


# ---------------------------------------------------------------- reading headers


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace(NBSP, " ").replace("_", " ").strip().lower())


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def header_distance(header: str) -> tuple[float | str | None, str | None]:
    """(km, FINISH, START or None; 'segment' when the header names a segment from A to B, 'ordinal' when it only numbers the split)."""
    text = _norm(header)
    segment = re.fullmatch(r"(.+?)\s*(?:-|–|—|\bto\b|\bbis\b|→|>)\s*(.+)", text)
    if segment:
        start, end = _segment_end(segment.group(1)), _segment_end(segment.group(2))
        if start is not None and end is not None:
            return end, "segment"
    unprefixed = re.sub(r"^(?:split|zwischenzeit|zz|passage|inter|time at|at)\s*", "", text)
    found = _point_distance(unprefixed)
    if found is not None:
        return found, None
    ordinal = re.fullmatch(r"(?:split|seg|segment|lap|leg|zwischenzeit|zz|abschnitt|etappe|intermediate|inter|tramo)\s*#?\s*(\d+)", text)
    if ordinal:
        return float(ordinal.group(1)), "ordinal"
    return None, None


def _segment_end(text: str) -> float | str | None:
    """A segment's end as its header writes it: with a unit (5km, HM, Ziel) or a bare km (the 5 of 5-10km)."""
    bare = re.fullmatch(r"\d+(?:[.,]\d+)?", text.strip())
    return _number(bare.group(0)) if bare else _point_distance(text)


def _point_distance(text: str) -> float | str | None:
    """The km a header word names: 5K, 10 km, KM 10, hm, Half, 13.1M, 21M, Mile 5, 21,1 km, Ziel …"""
    text = text.strip()
    if text in ("start", "0", "0k", "0km", "begin"):
        return START
    if re.fullmatch(r"(finish|ziel|arrivée|arrivee|meta|arrival|end|fin)( time| zeit)?", text):
        return FINISH
    if re.fullmatch(r"(half|hm|halb|halbmarathon|half marathon|half-marathon|semi|semi-marathon|mezza|media)( split| time| zeit)?", text):
        return HALF_KM
    if re.fullmatch(r"13[.,]1 ?(m|mi|mile|miles)", text):
        return HALF_KM
    if re.fullmatch(r"21[.,]1 ?(k|km)?|21[.,]0975 ?(k|km)?", text):
        return HALF_KM
    km = re.fullmatch(r"(?:km ?)?(\d+(?:[.,]\d+)?) ?(?:k|km|kms)(?: split| time| zeit)?|km ?(\d+(?:[.,]\d+)?)", text)
    if km:
        return _number(km.group(1) or km.group(2))
    miles = re.fullmatch(r"(?:mile ?|mi ?)(\d+(?:[.,]\d+)?)|(\d+(?:[.,]\d+)?) ?(?:m|mi|mile|miles)(?: split| time)?", text)
    if miles:
        return _number(miles.group(1) or miles.group(2)) * KM_PER_MILE
    return None


def _role_of(header: str) -> str | None:
    """The participant role a header names (bib, sex, category, age, birth_year, wave, target, status) or drop."""
    word = _norm(header)
    for role, words in (("bib", _WORDS_BIB), ("sex", _WORDS_SEX), ("category", _WORDS_CATEGORY), ("age", _WORDS_AGE),
                        ("birth_year", _WORDS_BIRTH), ("wave", _WORDS_WAVE), ("declared_finish", _WORDS_TARGET),
                        ("status", _WORDS_STATUS)):
        if word in words:
            return role
    if word and any(part in word for part in _DROP_PARTS):
        return "drop"
    return None


def _finish_kind(header: str) -> str | None:
    """'net', 'gun' or 'finish' when the header names a finish time (Official Time, Netto, Gun Time …)."""
    word = _norm(header)
    stripped = re.sub(r"\b(time|zeit|temps|tiempo)\b", "", word).strip()
    if any(re.search(rf"\b{re.escape(w)}\b", word) for w in _GUN):
        return "gun"
    if any(re.search(rf"\b{re.escape(w)}\b", word) for w in _NET) and not re.search(r"\d", word):
        return "net"
    if word in _WORDS_FINISH or stripped in _WORDS_FINISH:
        return "finish"
    return None


# ---------------------------------------------------------------- reading values


def _cells(head: FileHead, column: int) -> list[str]:
    return [row[column] for row in head.rows]


def _clean(cell: str) -> str:
    return cell.replace(NBSP, " ").strip()


def _times(cells: list[str], missing: list[str]) -> pl.DataFrame:
    return parse_durations(pl.Series(cells, dtype=pl.String), missing=missing)


def _is_time_column(cells: list[str], missing: list[str]) -> bool:
    parsed = _times(cells, missing)
    present = parsed.filter(pl.col("seconds").is_not_null() | pl.col("unparsable"))
    return present.height == 0 or parsed["seconds"].is_not_null().sum() >= 0.5 * present.height


def _markers(cells: list[str]) -> tuple[set[str], set[str], bool]:
    """(missing markers, DNF/DSQ markers, whether empty cells hold a non-breaking space) seen in time cells."""
    missing, dnf, nbsp = set(), set(), False
    for cell in cells:
        if NBSP in cell and not _clean(cell):
            nbsp = True
        word = _clean(cell)
        if word.lower() in _MISSING_CANDIDATES:
            missing.add(word.upper() if word.lower() in ("n/a", "na", "nan") else word)
        elif word.lower() in _STATUS_DNF:
            dnf.add(word.upper())
    return missing, dnf, nbsp


def _pace_ok(seconds: list[float], kms: list[float]) -> bool:
    paces = [s / k for s, k in zip(seconds, kms) if s is not None and k > 0]
    return bool(paces) and PLAUSIBLE_PACE_S_PER_KM[0] <= statistics.median(paces) <= PLAUSIBLE_PACE_S_PER_KM[1]


def times_are_cumulative(matrix: list[list[float | None]], kms: list[float]) -> bool:
    """True when the split cells are running totals: they grow along the course in every row and
    give a runner's pace; False when they are per-segment times (each since the previous split)."""
    cumulative_paces, segment_paces, gaps = [], [], [k - p for p, k in zip([0.0, *kms[:-1]], kms)]
    increasing = rows = 0
    for row in matrix:
        present = [(v, k) for v, k in zip(row, kms) if v is not None]
        if len(present) > 1:
            rows += 1
            increasing += all(b[0] > a[0] for a, b in zip(present, present[1:]))
        cumulative_paces += [v / k for v, k in present if k > 0]
        segment_paces += [v / g for v, g in zip(row, gaps) if v is not None and g > 0]
    if not cumulative_paces:
        return True
    low, high = PLAUSIBLE_PACE_S_PER_KM
    cumulative_fits = low <= statistics.median(cumulative_paces) <= high
    segment_fits = bool(segment_paces) and low <= statistics.median(segment_paces) <= high
    if cumulative_fits != segment_fits:  # only one reading gives a runner's pace
        return cumulative_fits
    return rows == 0 or increasing >= 0.9 * rows  # a few rows going backwards are typing errors


# ---------------------------------------------------------------- the draft


def draft_mapping(head: FileHead, file_name: str, mats: list[Mat] | None = None, finish_km: float | None = None) -> DraftMapping:
    """A mapping (as a dict and as reviewable TOML) for a file's head; `review` says what to check."""
    review: list[str] = []
    header = head.header
    columns: dict[str, str] = {}
    drop: list[str] = []
    time_candidates: list[tuple[int, float | str, str | None]] = []
    finish_columns: dict[str, int] = {}
    status_index = category_index = None
    all_cells = [c for row in head.rows for c in row]
    missing_seen, dnf_seen, nbsp = _markers(all_cells)
    missing = ["", *sorted(missing_seen)]

    for i, name in enumerate(header):
        role = _role_of(name)
        distance, shape = header_distance(name)
        finish_kind = _finish_kind(name) if distance is None else None
        if role == "drop" and finish_kind is None and distance is None:
            drop.append(name)
        elif role in ("bib", "sex", "age", "birth_year", "wave", "declared_finish") and role not in columns:
            columns[role] = name
        elif role == "category":
            category_index = i
        elif role == "status":
            status_index = i
        elif finish_kind is not None:
            finish_columns.setdefault(finish_kind, i)
        elif distance is not None:
            time_candidates.append((i, distance, shape))
        elif name:
            review.append(f"column {name!r}: not recognised, left out (add it to drop if it holds personal data)")

    if "bib" not in columns:
        raise MappingError(f"{file_name}: no bib column in the header {header}, expected one named Bib, Startnr, Dossard, Dorsal …")
    if "birth_year" not in columns and "age" in columns and _mostly_years(_cells(head, header.index(columns["age"]))):
        columns["birth_year"] = columns.pop("age")
        review.append(f"column {columns['birth_year']!r} holds years: read as birth year (age = race year - birth year)")
    sex_pattern = None
    if "sex" not in columns and category_index is not None:
        values = [_clean(c) for c in _cells(head, category_index) if _clean(c)]
        if values and sum(bool(re.match(_SEX_IN_CATEGORY, v)) for v in values) >= 0.9 * len(values):
            columns["sex"], sex_pattern = header[category_index], _SEX_IN_CATEGORY
            review.append(f"sex is read from inside {header[category_index]!r} (e.g. {values[0]!r}) by sex_pattern")
    if category_index is not None and header[category_index] != columns.get("sex"):
        drop.append(header[category_index])

    # time columns: keep those whose cells are times
    splits = []
    for i, distance, shape in time_candidates:
        cells = _cells(head, i)
        if not _is_time_column(cells, missing):
            review.append(f"column {header[i]!r}: header names a distance but its cells are not times, left out")
            continue
        if not any(_clean(c) for c in cells):
            review.append(f"column {header[i]!r} is empty in the first {len(cells)} rows: check it is a split")
        splits.append((i, distance, shape))
    for i, distance, shape in splits:
        if distance == FINISH and shape != "segment":  # a column named Finish, Ziel, Arrivée: the finish time
            finish_columns.setdefault("finish", i)
    segment_finish = [s for s in splits if s[1] == FINISH and s[2] == "segment"]
    splits = [s for s in splits if s[1] not in (FINISH, START)]

    # finish: net beside gun, else the one finish column, else a segment ending at the finish
    gun_index = finish_columns.get("gun")
    official_index = finish_columns.get("net", finish_columns.get("finish"))
    if official_index is None and gun_index is not None and not segment_finish:
        official_index, gun_index = gun_index, None
        review.append(f"only a gun time ({header[official_index]!r}): used as the net time; chip times would be better")
    if official_index is not None:
        columns["official_time"] = header[official_index]
        if gun_index is not None:
            columns["gun_time"] = header[gun_index]
    for kind, index in finish_columns.items():
        if header[index] not in columns.values():
            drop.append(header[index])
            review.append(f"column {header[index]!r} ({kind} time) not mapped: another finish column was chosen")

    ordinal = [s for s in splits if s[2] == "ordinal"]
    placed: list[tuple[int, float]] = []
    if ordinal and mats is None:
        review.append(f"columns {[header[i] for i, _, _ in ordinal]} number the splits without a distance: run with --race-file "
                      "to take their km from the race's timing mats, or add them by hand")
    elif ordinal:
        if len(ordinal) > len(mats):
            raise MappingError(f"{file_name}: {len(ordinal)} numbered split columns but the race file has {len(mats)} timing mats, "
                               "expected one mat per split")
        placed += [(i, mats[n].km) for n, (i, _, _) in enumerate(sorted(ordinal, key=lambda s: s[1]))]
        review.append(f"numbered splits placed on the race's timing mats in course order: {[m.point_id for m in mats[:len(ordinal)]]}")
    placed += [(i, float(d)) for i, d, shape in splits if shape != "ordinal"]
    placed.sort(key=lambda p: p[1])

    # cumulative or per-segment, and the time format
    finish_index = official_index if official_index is not None else (segment_finish[0][0] if segment_finish else None)
    value_columns = [i for i, _ in placed] + ([finish_index] if finish_index is not None else [])
    parsed = {i: _times(_cells(head, i), missing)["seconds"].to_list() for i in value_columns}
    plain_numbers = all(re.fullmatch(r"\d+(?:\.\d+)?", _clean(c)) for i in value_columns for c in _cells(head, i)
                        if _clean(c) and _times([c], missing)["seconds"][0] is not None)
    time_format = "seconds" if value_columns and plain_numbers else "auto"
    if time_format == "seconds":
        parsed = {i: [v for v in _times(_cells(head, i), missing)["seconds"].to_list()] for i in value_columns}
    kms = [k for _, k in placed]
    matrix = [list(r) for r in zip(*(parsed[i] for i, _ in placed))] if placed else []
    headers_say_segments = any(shape == "segment" for _, _, shape in splits + segment_finish)
    cumulative = not headers_say_segments and times_are_cumulative(matrix, kms)
    finish_is_segment = False
    if not cumulative and finish_index is not None and official_index is None:
        finish_is_segment = True
    elif not cumulative and finish_index is not None and placed:
        sums = [sum(v for v in row if v is not None) for row in matrix]
        finals = parsed[finish_index]
        ratios = [f / s for f, s in zip(finals, sums) if f is not None and s]
        finish_is_segment = bool(ratios) and statistics.median(ratios) < 1.0
        if finish_is_segment:  # the "finish" column is the last segment, not a total
            columns.pop("official_time", None)
            columns.pop("gun_time", None)
    if finish_index is None:
        raise MappingError(f"{file_name}: no finish time column in the header {header}, expected Finish, Official Time, Net, "
                           "Ziel … or a last segment ending at the finish")

    # the finish km and the split point ids
    if finish_km is None:
        finish_km = _guess_finish_km(head, parsed.get(finish_index, []), cumulative or not finish_is_segment, kms, review)
    spec_splits = []
    for i, km in placed:
        if km >= finish_km - 1e-9:
            review.append(f"column {header[i]!r} at km {km:g} is not before the finish at {finish_km:g} km, left out")
            drop.append(header[i])
            continue
        point_id = mat_point_id(km)
        if mats is not None:
            near = [m for m in mats if abs(m.km - km) <= POINT_KM_TOLERANCE]
            if near:
                point_id, km = near[0].point_id, near[0].km
            else:
                review.append(f"column {header[i]!r} at km {km:g}: no timing mat of the race within {POINT_KM_TOLERANCE} km; "
                              f"add {point_id} to the course or drop the column")
        spec_splits.append({"column": header[i], "point_id": point_id, "km": round(km, 4)})

    # DNF rule
    dnf: dict = {"keep_splits": "all"}
    if status_index is not None:
        values = sorted({_clean(c).upper() for c in _cells(head, status_index) if _clean(c).lower() in _STATUS_DNF} | dnf_seen)
        dnf |= {"column": header[status_index], "values": values or ["DNF", "DSQ", "DNS"]}
    else:
        dnf["values"] = sorted(set(missing) | dnf_seen | {"DNF"})
    sex_values = _sex_values(head, columns, sex_pattern, review)

    spec: dict = {
        "description": f"drafted by racecramp mapping draft from {file_name}: review before importing",
        "preamble_lines": len(head.preamble),
        "delimiter": head.delimiter,
        "encoding": head.encoding,
        "times": "cumulative" if cumulative else "per_segment",
        "time_format": time_format,
        "missing": missing,
        "drop": list(dict.fromkeys(drop)),
        "columns": columns,
    }
    if sex_pattern is not None:
        spec["sex_pattern"] = sex_pattern
    if sex_values:
        spec["sex_values"] = sex_values
    spec["dnf"] = dnf
    spec["finish"] = {"point_id": "finish", "km": finish_km}
    if finish_is_segment:
        spec["finish"]["column"] = header[finish_index]
        review.append(f"no finish-time column: the net time is the sum of the segments, the last being {header[finish_index]!r}")
    spec["splits"] = spec_splits
    if nbsp:
        review.append("empty cells hold a non-breaking space: read as empty (the reader strips it)")
    if not cumulative:
        review.append("split cells are per-segment times (each since the previous split): summed into running totals")
    mapping_from_dict(spec, file_name)  # the draft must be a mapping the reader accepts
    return DraftMapping(spec, mapping_toml(spec, review), review)


def _mostly_years(cells: list[str]) -> bool:
    values = [_clean(c) for c in cells if _clean(c)]
    return bool(values) and sum(bool(re.fullmatch(r"(19|20)\d\d", v)) for v in values) >= 0.9 * len(values)


def _sex_values(head: FileHead, columns: dict[str, str], pattern: str | None, review: list[str]) -> dict[str, str]:
    if "sex" not in columns:
        return {}
    cells = [_clean(c) for c in _cells(head, head.header.index(columns["sex"])) if _clean(c)]
    if pattern is not None:
        cells = [m.group(1) for c in cells if (m := re.match(pattern, c))]
    values: dict[str, str] = {}
    for value in sorted(set(cells)):
        sex = _SEX_VALUES.get(value.lower())
        if sex is None:
            review.append(f"sex value {value!r} in {columns['sex']!r} is not M, F or X in any language known here: add it to sex_values")
        else:
            values[value] = sex
    return values


def _guess_finish_km(head: FileHead, finish_s: list[float | None], finish_is_total: bool, kms: list[float], review: list[str]) -> float:
    """Half or full marathon from the preamble/file words, else from the finish times and the furthest split."""
    words = " ".join(head.preamble).lower()
    if max(kms, default=0) >= HALF_KM - 1e-9:  # a split at or past halfway: longer than a half
        km = MARATHON_KM
    elif re.search(r"half|halb|semi|21[.,]1|13[.,]1|mezza", words):
        km = HALF_KM
    elif re.search(r"\bmarathon\b|42[.,]195|26[.,]2", words):
        km = MARATHON_KM
    else:
        times = [t for t in finish_s if t is not None]
        km = HALF_KM if finish_is_total and times and statistics.median(times) < 2.75 * 3600 and max(kms, default=0) < HALF_KM else MARATHON_KM
    review.append(f"finish km assumed {km:g} (no --race-file): check it")
    return km


def mapping_toml(spec: dict, review: list[str]) -> str:
    """The draft as TOML, the review notes as comments at the top."""
    out = io.StringIO()
    out.write("# Draft mapping: check every line before `racecramp import results --mapping THIS_FILE`.\n")
    for line in review:
        out.write(f"# REVIEW: {line}\n")

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v, ensure_ascii=False)

    for key in ("description", "preamble_lines", "delimiter", "encoding", "times", "time_format", "missing", "drop", "sex_pattern"):
        if key in spec:
            out.write(f"{key} = {value(spec[key])}\n")
    for table in ("columns", "sex_values", "dnf", "finish"):
        if table in spec:
            out.write(f"\n[{table}]\n")
            for k, v in spec[table].items():
                out.write(f"{value(k) if not re.fullmatch(r'[A-Za-z0-9_-]+', k) else k} = {value(v)}\n")
    for split in spec["splits"]:
        out.write("\n[[splits]]\n" + "".join(f"{k} = {value(v)}\n" for k, v in split.items()))
    return out.getvalue()
