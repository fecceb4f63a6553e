"""Who is posting: bearer tokens per race, station and feed, stored as SHA-256 digests only.

Principals are the keys of `Settings.token_hashes` and of the token register (intake.tokens):

    station:<race_id>:<point_id>   an aid station or tent of one race; reports for that race and point only
    feed:timing:<race_id>          the timing system; the race's start list (participants) and passings
    feed:weather:<race_id>         a weather feed; observations for the race
    feed:survey:<race_id>          uploads the race's post-race survey CSV
    command                        the medical director: every endpoint, any station, any race
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Iterable

from racecramp.domain import COMMAND, PRINCIPAL_FORMS, PRINCIPAL_PATTERN, STATION, STATION_PREFIX
from racecramp.landing.kinds import kind as landing_kind


class AuthError(Exception):
    """401: no token, or a token that matches no principal."""


class ForbiddenError(Exception):
    """403: a known principal asked for something it may not do."""


@dataclass(frozen=True)
class Principal:
    """A principal by name; its role, race and station are read from the name."""

    name: str
    role: str = field(init=False, compare=False)  # command, station, feed:timing, feed:weather, feed:survey
    race_id: str | None = field(init=False, compare=False)  # None for command (every race)
    station: str | None = field(init=False, compare=False)  # the point_id of a station principal, else None

    def __post_init__(self) -> None:
        match = re.fullmatch(PRINCIPAL_PATTERN, self.name)
        if match is None:
            raise ValueError(f"principal {self.name!r} is not {PRINCIPAL_FORMS}")
        role = match["feed"] or (STATION if match["point_id"] else COMMAND)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "race_id", match["feed_race"] or match["station_race"])
        object.__setattr__(self, "station", match["point_id"])

    @property
    def is_command(self) -> bool:
        return self.role == COMMAND


class TokenVerifier:
    """Matches a presented bearer token against (principal, digest) pairs in constant time."""

    def __init__(self, entries: Iterable[tuple[str, str]], revoked: Iterable[str] = ()):
        self._digests = [(name, bytes.fromhex(digest)) for name, digest in sorted(entries)]
        self._revoked = [bytes.fromhex(digest) for digest in sorted(set(revoked))]

    def principal(self, token: str | None) -> Principal:
        if not token:
            raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        # Compare against every digest (no early exit) so timing does not reveal which matched.
        for name, digest in self._digests:
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        revoked = False
        for digest in self._revoked:
            revoked = hmac.compare_digest(presented, digest) or revoked
        if revoked:
            raise AuthError("this token was revoked (a lost card or tablet): ask medical command for a new station card")
        if found is None:
            raise AuthError("bearer token not recognised")
        return Principal(found)


def require(principal: Principal, kind: str) -> None:
    """Raise ForbiddenError unless `principal` may send this landing kind (landing.kinds)."""
    allowed = landing_kind(kind).principals
    if principal.role in allowed:
        return
    names = [f"{STATION_PREFIX}<race_id>:<point_id>" if p == STATION else p if p == COMMAND else f"{p}:<race_id>"
             for p in allowed] or ["nobody over HTTP"]
    raise ForbiddenError(f"principal {principal.name!r} may not post {kind}: expected {' or '.join(names)}")


def require_race(principal: Principal, race_id: str | None, where: str) -> None:
    """A station or feed token posts only for its own race; raises ForbiddenError naming both races."""
    if principal.is_command or race_id == principal.race_id:
        return
    raise ForbiddenError(
        f"{where}={race_id!r}, but this token ({principal.name}) belongs to race {principal.race_id!r}: "
        f"a token is valid for one race only (use race {race_id!r}'s own token, or the command token)"
    )


def require_station(principal: Principal, race_id: str, point_id: str, race_field: str, point_field: str) -> None:
    """A station token posts only for its own race and station; the fields name where the values came from."""
    if principal.is_command:
        return
    if principal.station is None:
        raise ForbiddenError(f"principal {principal.name!r} may not post reports")
    require_race(principal, race_id, race_field)
    if point_id != principal.station:
        raise ForbiddenError(
            f"{point_field}={point_id!r}, but this token belongs to station {principal.station!r} ({principal.name}): "
            "a station may post reports only for itself (use that station's token, or the command token)"
        )
