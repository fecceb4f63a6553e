"""Who is posting: bearer tokens per station and per feed, stored as SHA-256 digests only.

Principals are the keys of `Settings.token_hashes`:

    station:<point_id>   an aid station or tent; may post reports for its own point_id only
    feed:timing          the timing system; posts the start list (participants) and passings
    feed:weather         a weather feed; posts observations
    feed:survey          uploads the post-race survey CSV
    command              the medical director: every endpoint, any station, alert actions
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from racecramp.domain import COMMAND, STATION, STATION_PREFIX
from racecramp.landing.kinds import kind as landing_kind


class AuthError(Exception):
    """401: no token, or a token that matches no principal."""


class ForbiddenError(Exception):
    """403: a known principal asked for something it may not do."""


@dataclass(frozen=True)
class Principal:
    name: str

    @property
    def is_command(self) -> bool:
        return self.name == COMMAND

    @property
    def station(self) -> str | None:
        """The point_id of a station principal, else None."""
        return self.name[len(STATION_PREFIX):] if self.name.startswith(STATION_PREFIX) else None


class TokenVerifier:
    """Matches a presented bearer token against the configured digests in constant time."""

    def __init__(self, token_hashes: dict[str, str]):
        self._digests = [(name, bytes.fromhex(digest)) for name, digest in sorted(token_hashes.items())]

    def principal(self, token: str | None) -> Principal:
        if not token:
            raise AuthError("missing bearer token: send 'Authorization: Bearer <token>'")
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        # Compare against every digest (no early exit) so timing does not reveal which matched.
        for name, digest in self._digests:
            if hmac.compare_digest(presented, digest) and found is None:
                found = name
        if found is None:
            raise AuthError("bearer token not recognised")
        return Principal(found)


def require(principal: Principal, kind: str) -> None:
    """Raise ForbiddenError unless `principal` may send this landing kind (landing.kinds)."""
    allowed = landing_kind(kind).principals
    if principal.name in allowed or (STATION in allowed and principal.station is not None):
        return
    names = [f"{STATION_PREFIX}<point_id>" if p == STATION else p for p in allowed] or ["nobody over HTTP"]
    raise ForbiddenError(f"principal {principal.name!r} may not post {kind}: expected {' or '.join(names)}")


def require_station(principal: Principal, point_id: str, where: str) -> None:
    """A station token posts only for its own station; raises ForbiddenError naming both."""
    if principal.is_command:
        return
    station = principal.station
    if station is None:
        raise ForbiddenError(f"principal {principal.name!r} may not post reports")
    if point_id != station:
        raise ForbiddenError(
            f"{where}={point_id!r}, but this token belongs to station {station!r} ({principal.name}): "
            "a station may post reports only for itself (use that station's token, or the command token)"
        )
