"""Station entry: which station a token belongs to, its stations and the report it posts."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from racecramp.domain import PointKind
from racecramp.intake.auth import AuthError, Principal, TokenVerifier
from racecramp.views.shared import for_race


def principal_for_token(token_hashes: dict[str, str], token: str) -> str | None:
    """The principal ('station:<point_id>', 'command', …) whose token this is, else None."""
    try:
        return TokenVerifier(token_hashes).principal(token).name
    except AuthError:
        return None


def station_of(principal: str | None) -> str | None:
    """point_id of a 'station:<point_id>' principal, else None."""
    return Principal(principal).station if principal else None


def station_choices(course_points: pl.DataFrame | None, race_id: str) -> pl.DataFrame:
    """Aid stations and medical tents of the race (point_id, label, kind, km), by km."""
    points = for_race(course_points, race_id)
    if points is None:
        return pl.DataFrame(schema={"point_id": pl.String, "label": pl.String, "kind": pl.String, "km": pl.Float64})
    return (
        points.filter(pl.col("kind").is_in([PointKind.AID_STATION.value, PointKind.MEDICAL_TENT.value]))
        .select("point_id", "label", "kind", "km")
        .sort("km", "point_id")
    )


def report_payload(
    report_id: str,
    race_id: str,
    station: dict,
    reported_at_utc: datetime,
    *,
    bib: str | None,
    muscle_group: str,
    severity: str,
    treatment: str,
    disposition: str,
    entered_by: str | None = None,
) -> dict:
    """The JSON body of POST /v1/reports for a station's report (source from the station kind)."""
    source = "finish_tent" if station["kind"] == PointKind.MEDICAL_TENT.value else "aid_station"
    bib = (bib or "").strip() or None
    payload = {
        "report_id": report_id,
        "race_id": race_id,
        "source": source,
        "point_id": station["point_id"],
        "km": float(station["km"]),
        "bib": bib,
        "reported_at_utc": reported_at_utc.astimezone(UTC).isoformat(),
        "muscle_group": muscle_group,
        "severity": severity,
        "treatment": treatment,
        "disposition": disposition,
    }
    if entered_by:
        payload["entered_by"] = entered_by
    return payload
