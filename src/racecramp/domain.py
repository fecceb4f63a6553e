"""The vocabulary of racecramp: course points, report fields, WBGT flags, pace groups.

Plain constants and enums only; every number from the literature carries its source.
"""

from __future__ import annotations

from enum import StrEnum

MARATHON_KM = 42.195
HALF_KM = 21.0975
KM_PER_MILE = 1.609344


class PointKind(StrEnum):
    TIMING_MAT = "timing_mat"
    AID_STATION = "aid_station"
    MEDICAL_TENT = "medical_tent"
    FINISH = "finish"


class ReportSource(StrEnum):
    AID_STATION = "aid_station"
    FINISH_TENT = "finish_tent"
    SURVEY = "survey"


class Disposition(StrEnum):
    RETURNED_TO_RACE = "returned_to_race"
    DNF = "dnf"
    TRANSPORTED = "transported"
    DISCHARGED = "discharged"


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


MUSCLE_GROUPS = ("calf", "hamstring", "quadriceps", "foot", "hip", "abdominal", "other")
TREATMENTS = ("stretch_massage", "oral_fluids", "rest", "ice", "iv_fluids", "other")
SEXES = ("M", "F", "X")

# Age bands used by every mart that groups by age (SAFER XXIX found age > 40 a risk factor,
# so 40 is a band edge).
AGE_BAND_EDGES = (18, 30, 40, 50, 60, 70)


def age_band(age: int | None) -> str | None:
    """Label such as '40-49' for an age, '70+' at the top, '<18' below the first edge."""
    if age is None:
        return None
    if age < AGE_BAND_EDGES[0]:
        return f"<{AGE_BAND_EDGES[0]}"
    for low, high in zip(AGE_BAND_EDGES, AGE_BAND_EDGES[1:]):
        if low <= age < high:
            return f"{low}-{high - 1}"
    return f"{AGE_BAND_EDGES[-1]}+"


class WbgtFlag(StrEnum):
    """ACSM race flags (Armstrong et al. 1996, MSSE 28(10); ../shared/notes/domain.md §2.3)."""

    WHITE = "white"
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    BLACK = "black"


# Lower bound (°C, inclusive) of each flag above white; below 10 °C is white (hypothermia risk).
WBGT_WHITE_BELOW_C = 10.0
WBGT_YELLOW_FROM_C = 18.0
WBGT_RED_FROM_C = 23.0
WBGT_BLACK_ABOVE_C = 28.0

# Relative pace = actual pace so far / declared pace. Below 0.95 the runner is going faster
# than declared, which Schwellnus 2011 (BJSM 45:1132) ties to cramping.
RELATIVE_PACE_FAST_BELOW = 0.95
RELATIVE_PACE_SLOW_ABOVE = 1.05

# Late-race distress marker: a segment pace more than 25% slower than the runner's own
# 5-20 km pace (Del Coso 2013 used >15% slowing as a muscle-damage marker; 25% is our
# stricter operational threshold, named in the issue).
SLOWDOWN_RATIO = 1.25

SMALL_COUNT_BELOW = 5

# A report's or passing's km may differ from its station's published km by at most this
# (stations are placed approximately; a larger gap is a typing error or the wrong station).
POINT_KM_TOLERANCE = 0.5  # rates on fewer than 5 cases are flagged small_count

# Who sends data (the intake's principals; each holds a bearer token, docs/intake.md). Every
# principal but command is bound to one race: its token is refused (403) for another race.
COMMAND = "command"  # the medical director: every endpoint, any station, any race
STATION = "station"  # an aid station or tent, "station:<race_id>:<point_id>": reports for its own point and race
STATION_PREFIX = STATION + ":"
FEED_TIMING = "feed:timing"  # the timing system, "feed:timing:<race_id>": start list and passings
FEED_WEATHER = "feed:weather"  # a weather feed, "feed:weather:<race_id>": observations
FEED_SURVEY = "feed:survey"  # the post-race survey upload, "feed:survey:<race_id>"
FEED_PRINCIPALS = (FEED_TIMING, FEED_WEATHER, FEED_SURVEY)

SLUG_PATTERN = r"[a-z0-9][a-z0-9-]*"  # race_id and point_id
# A principal's name (the key of a token hash); fullmatch it.
PRINCIPAL_PATTERN = (
    rf"{COMMAND}"
    rf"|(?P<feed>{'|'.join(FEED_PRINCIPALS)}):(?P<feed_race>{SLUG_PATTERN})"
    rf"|{STATION}:(?P<station_race>{SLUG_PATTERN}):(?P<point_id>{SLUG_PATTERN})"
)
PRINCIPAL_FORMS = f"{COMMAND}, {', '.join(f + ':<race_id>' for f in FEED_PRINCIPALS)} or {STATION_PREFIX}<race_id>:<point_id>"

# Codes where free text could carry a name (docs/security.md, "No names"). A bib is a short
# code: up to 3 letters (and a dash), a digit, then letters, digits or dashes, at most 16 in all
# (F108, 12345, A-1234); "Jane Doe" is no bib. A sender is an identity without spaces: a
# principal, a station, a login (e-mail) or an import file. A code (a weather feed, a station
# id) has no spaces either.
BIB_PATTERN = r"^[A-Za-z]{0,3}-?[0-9][A-Za-z0-9-]{0,11}$"
BIB_WORDS = "a bib code (up to 3 letters, then digits; letters, digits or dashes after them; no spaces)"
IDENTITY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+/-]{0,127}$"
IDENTITY_WORDS = "an identity without spaces (a principal, a login e-mail, an import file)"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:._/-]{0,63}$"
CODE_WORDS = "a code without spaces (letters, digits and : . _ / -)"
MUSCLES_PATTERN = "^(" + "|".join(MUSCLE_GROUPS) + ")(,(" + "|".join(MUSCLE_GROUPS) + "))*$"
MUSCLES_WORDS = "muscle groups from " + ", ".join(MUSCLE_GROUPS) + ", separated by commas"
MASKED = "<masked: {n} characters>"  # what quarantine keeps of a value that failed a personal-data check
PATTERN_WORDS = {BIB_PATTERN: BIB_WORDS, IDENTITY_PATTERN: IDENTITY_WORDS, CODE_PATTERN: CODE_WORDS, MUSCLES_PATTERN: MUSCLES_WORDS}


def place_code(place: str) -> str:
    """A place name as a code (CODE_PATTERN), as a feed sends it over HTTP: 'Boston, MA' -> 'boston-ma'."""
    code = "-".join("".join(c if c.isascii() and c.isalnum() else " " for c in place.lower()).split())[:64]
    if not code:
        raise ValueError(f"place {place!r}: has no letters or digits to make a code of")
    return code


def station_principal(race_id: str, point_id: str) -> str:
    """The principal of a race's station: 'station:boston-2017:aid-20mi'."""
    return f"{STATION_PREFIX}{race_id}:{point_id}"


def feed_principal(feed: str, race_id: str) -> str:
    """The principal of a race's feed: feed_principal(FEED_TIMING, 'boston-2017') = 'feed:timing:boston-2017'."""
    return f"{feed}:{race_id}"
