"""Streamlit glue shared by the pages: settings, race picker, clocks, banners, access, intake calls.

No numbers are computed here (see racecramp.views); this module only decides what
frame a page reads and how a message looks.
"""

from __future__ import annotations

import hmac
import importlib.util
import ipaddress
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from racecramp.config import COMMAND_TOKEN_ENV, Settings, load_settings
from racecramp.views import shared

# Live parts of each page rerun this often (the issue asks for 10 s or faster).
REFRESH_EVERY = "5s"
# A volunteer's tablet must not hang on a dead network: give up on the intake after this.
INTAKE_TIMEOUT_S = 5.0
LOOPBACK_NAMES = ("localhost",)
# What st.login() (the default provider) needs under [auth] in .streamlit/secrets.toml.
OIDC_REQUIRED_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
ACCESS_CODE_OK = "access_code_ok"
ACCESS_CODE_ENTRY = "access_code_entry"
ACCESS_CODE_WRONG = "access_code_wrong"
ACCESS_CODE_WAIT = "access_code_wait"  # the refusal shown while an attempt must wait
ACCESS_CODE_ATTEMPTS = "access_code_attempts"  # this browser session's wrong attempts
# Wrong access codes: the first ACCESS_FREE_ATTEMPTS are only told so; after that each attempt
# waits twice as long as the one before (5 s, 10 s, 20 s … at most 15 min), per browser session
# and per client address. A director who mistyped waits seconds; a guesser gets a few tries an hour.
ACCESS_FREE_ATTEMPTS = 3
ACCESS_FIRST_WAIT_S = 5.0
ACCESS_MAX_WAIT_S = 900.0
ACCESS_CLIENTS_KEPT = 10_000  # client addresses remembered (the least recently seen are forgotten)

log = logging.getLogger(__name__)
access_clock = time.monotonic  # seconds; tests set their own


@dataclass(frozen=True)
class PageContext:
    settings: Settings
    snapshots: shared.Snapshots
    race_id: str | None
    wall_now_utc: datetime
    race_now_utc: datetime | None  # the race clock (dashboard_data.race_clock)
    timezone: ZoneInfo | None  # the race's local time zone
    race_label: str


def settings() -> Settings:
    return load_settings()


def wall_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- secrets and access


def secret(name: str) -> object | None:
    """A value from Streamlit secrets; None when there is no secrets file or no such key."""
    try:
        return st.secrets.get(name)
    except StreamlitSecretNotFoundError:
        return None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False  # unset means every interface
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_exposed(cfg: Settings) -> bool:
    """True when the dashboard may be reachable from another machine (then a login is required).

    Both the racecramp setting (dashboard_host, which `racecramp serve` passes to Streamlit)
    and the address Streamlit actually binds (server.address; unset = all interfaces) count.
    """
    return not (is_loopback(cfg.dashboard_host) and is_loopback(st.get_option("server.address")))


def oidc_configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (then st.login is the login)."""
    auth = secret("auth")
    return isinstance(auth, dict) or hasattr(auth, "keys")


def oidc_problem() -> str | None:
    """Why st.login cannot work with the [auth] section as configured, or None when it can."""
    auth = secret("auth")
    missing_keys = [key for key in OIDC_REQUIRED_KEYS if not auth.get(key)]
    if missing_keys:
        return (
            f"the [auth] section of .streamlit/secrets.toml has no {', '.join(missing_keys)}; "
            f"st.login needs all of {', '.join(OIDC_REQUIRED_KEYS)}."
        )
    if importlib.util.find_spec("authlib") is None:
        return "[auth] is configured but the Authlib package is not installed (pip install 'Authlib>=1.3.2')."
    return None


def oidc_logged_in() -> bool:
    return bool(getattr(st.user, "is_logged_in", False))


def access_code_configured() -> bool:
    return bool(secret("access_code"))


def login_configured() -> bool:
    return oidc_configured() or access_code_configured()


def access_granted(cfg: Settings) -> bool:
    """Who may see the command pages.

    A configured login is always required, on loopback too (a reverse proxy in front of a
    loopback-bound Streamlit makes it reachable from the network): OIDC (st.login) when [auth]
    is in secrets, else the access code. Without any login: open on loopback, closed when exposed.
    """
    if oidc_configured():
        return oidc_logged_in()
    if access_code_configured():
        return bool(st.session_state.get(ACCESS_CODE_OK))
    return not is_exposed(cfg)


def login_page() -> None:
    """Shown instead of the command pages until the visitor has logged in."""
    st.title("racecramp medical command")
    cfg = settings()
    if oidc_configured():
        problem = oidc_problem()
        if problem is not None:
            st.error(f"Login is not possible: {problem}")
            return
        st.write("Log in with your organisation account to see the medical command pages.")
        st.button("Log in", on_click=st.login, type="primary")
    elif access_code_configured():
        with st.form("access"):
            st.text_input("Access code", type="password", key=ACCESS_CODE_ENTRY)
            st.form_submit_button("Enter", type="primary", on_click=_check_access_code)
        if st.session_state.get(ACCESS_CODE_WAIT):
            st.error(st.session_state[ACCESS_CODE_WAIT])
        elif st.session_state.get(ACCESS_CODE_WRONG):
            st.error("Wrong access code.")
    else:
        st.error(
            "This dashboard is exposed (dashboard_host or server.address is not loopback) but no login is "
            "configured. Add an [auth] section (OIDC) or `access_code` to .streamlit/secrets.toml, "
            f"or bind to 127.0.0.1 (dashboard_host={cfg.dashboard_host!r})."
        )
        return
    st.caption("Aid-station volunteers: use the Station entry page with your station token.")


@dataclass
class AccessAttempts:
    """Wrong access codes of one browser session or one client address."""

    failures: int = 0
    last_failure_s: float = -math.inf

    def wait_s(self, now_s: float) -> float:
        """Seconds before the next attempt may be checked (0: now)."""
        if self.failures < ACCESS_FREE_ATTEMPTS:
            return 0.0
        backoff = min(ACCESS_MAX_WAIT_S, ACCESS_FIRST_WAIT_S * 2 ** (self.failures - ACCESS_FREE_ATTEMPTS))
        return max(0.0, self.last_failure_s + backoff - now_s)

    def failed(self, now_s: float) -> None:
        self.failures += 1
        self.last_failure_s = now_s


_client_attempts: OrderedDict[str, AccessAttempts] = OrderedDict()  # shared by every session of this server
_client_attempts_lock = threading.Lock()


def client_address() -> str | None:
    """The browser's address as Streamlit saw it (None on loopback, where every visitor looks the same)."""
    return st.context.ip_address


def _attempts_of_client(client: str | None) -> AccessAttempts | None:
    if client is None:
        return None
    with _client_attempts_lock:
        attempts = _client_attempts.pop(client, None) or AccessAttempts()
        _client_attempts[client] = attempts
        while len(_client_attempts) > ACCESS_CLIENTS_KEPT:
            _client_attempts.popitem(last=False)
        return attempts


def _check_access_code() -> None:
    """Form callback, so the page that follows the Enter tap already knows the answer.

    After ACCESS_FREE_ATTEMPTS wrong codes (in this session, or from this client address) an
    attempt is not checked until its wait is over; the page says how long."""
    now = access_clock()
    session = st.session_state.setdefault(ACCESS_CODE_ATTEMPTS, AccessAttempts())
    client = client_address()
    by_client = _attempts_of_client(client)
    wait = max(session.wait_s(now), by_client.wait_s(now) if by_client else 0.0)
    st.session_state[ACCESS_CODE_OK] = False
    if wait > 0:
        st.session_state[ACCESS_CODE_WRONG] = False
        st.session_state[ACCESS_CODE_WAIT] = (
            f"Too many wrong access codes: wait {math.ceil(wait)} s, then try again. Not checked."
        )
        return
    st.session_state[ACCESS_CODE_WAIT] = None
    entered = str(st.session_state.get(ACCESS_CODE_ENTRY) or "")
    ok = hmac.compare_digest(entered.encode(), str(secret("access_code")).encode())
    if ok:
        session.failures = 0
        if by_client is not None:
            by_client.failures = 0
    else:
        session.failed(now)
        if by_client is not None:
            by_client.failed(now)
        failures = max(session.failures, by_client.failures if by_client else 0)
        if failures >= ACCESS_FREE_ATTEMPTS:
            log.warning("dashboard: %d wrong access codes from %s; next attempts wait", failures, client or "a loopback session")
    st.session_state[ACCESS_CODE_OK] = ok
    st.session_state[ACCESS_CODE_WRONG] = not ok


def _forget_access_code() -> None:
    st.session_state[ACCESS_CODE_OK] = False
    st.session_state[ACCESS_CODE_WRONG] = False


def account_sidebar() -> None:
    """Sidebar: who is logged in and a Log out button (nothing when no login is configured)."""
    if oidc_configured() and oidc_logged_in():
        st.sidebar.caption(f"Logged in as **{acting_as() or 'command'}**")
        st.sidebar.button("Log out", on_click=st.logout, key="log_out")
    elif not oidc_configured() and st.session_state.get(ACCESS_CODE_OK):
        st.sidebar.button("Log out", on_click=_forget_access_code, key="log_out")


def require_access() -> None:
    """First line of every command page: the login page and a stop unless the visitor may see it.

    app.py already leaves these pages out of the navigation before login, but Streamlit runs a
    file under dashboards/pages/ directly, without app.py, when a fresh server's first session
    asks for its URL (its old pages-directory mode), so each page checks for itself.
    """
    if not access_granted(settings()):
        login_page()
        st.stop()
    account_sidebar()


def command_token() -> str | None:
    """The command token for alert actions: Streamlit secret `command_token`, else the env var."""
    token = secret("command_token") or os.environ.get(COMMAND_TOKEN_ENV)
    return str(token) if token else None


def acting_as() -> str | None:
    """Who acts: the logged-in user's e-mail (OIDC); None without a login, and the intake then
    records the command principal. Never a typed name (docs/security.md, "No names")."""
    if oidc_logged_in():
        email = st.user.get("email")
        return str(email) if email else None
    return None


def actor_body(**fields: object) -> dict:
    """A command action's JSON body, with `by` only when a logged-in user is known."""
    who = acting_as()
    return {**fields, **({"by": who} if who else {})}


# --------------------------------------------------------------------------- intake calls


def intake_url(cfg: Settings) -> str:
    host = cfg.intake_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{cfg.intake_port}"


@dataclass(frozen=True)
class IntakeAnswer:
    ok: bool
    status: int | None
    body: dict | list | str | None
    error: str | None


def post_to_intake(cfg: Settings, path: str, token: str, payload: dict) -> IntakeAnswer:
    """POST JSON to the intake with a bearer token; a network failure is an answer, not a crash."""
    url = intake_url(cfg) + path
    try:
        response = httpx.post(url, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=INTAKE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return IntakeAnswer(False, None, None, f"could not reach the intake at {url}: {exc}")
    try:
        body = response.json()
    except ValueError:
        body = response.text
    ok = response.status_code == 202
    error = None if ok else f"intake answered {response.status_code}: {_detail(body)}"
    return IntakeAnswer(ok, response.status_code, body, error)


def _detail(body: object) -> str:
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):
            return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
        return str(detail)
    return str(body)


# --------------------------------------------------------------------------- text from the data

# Markdown and HTML control characters: data shown inside st.markdown / st.caption is escaped so
# a feed's free text, an alert message or a name typed somewhere renders as the text it is.
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&\"'])")


def plain(value: object) -> str:
    """`value` as literal text inside Markdown (no markup, no HTML, no emoji or colour directives)."""
    return _MARKUP.sub(r"\\\1", str(value)).replace("\n", " ")


# --------------------------------------------------------------------------- page furniture


def page_context(snapshots_override: shared.Snapshots | None = None) -> PageContext:
    """Settings, snapshots, the chosen race and both clocks (call once per page run)."""
    cfg = settings()
    snaps = snapshots_override or shared.Snapshots(cfg.snapshot_dir)
    race_ids = snaps.race_ids()
    race_id = st.session_state.get("race_id")
    if race_id not in race_ids:
        race_id = cfg.race_id if cfg.race_id in race_ids else (race_ids[0] if race_ids else None)
        st.session_state["race_id"] = race_id
    wall = wall_now()
    tz = None
    label = race_id or "no race"
    if race_id is not None:
        races = shared.for_race(snaps.table("races"), race_id)
        if races is not None and races.height:
            row = races.row(0, named=True)
            tz = ZoneInfo(row["timezone"]) if row.get("timezone") else None
            label = f"{row.get('name') or race_id} {row.get('date') or ''}".strip()
    race_now = None
    if race_id is not None:
        race_now = shared.race_clock(
            shared.for_race(snaps.table("cramp_reports", ("race_id", "reported_at_utc")), race_id),
            shared.for_race(snaps.table("passings", ("race_id", "passed_at_utc")), race_id),
            wall,
        )
    return PageContext(cfg, snaps, race_id, wall, race_now, tz, label)


def race_picker(ctx: PageContext) -> None:
    """Sidebar: which race to show (the configured race by default)."""
    race_ids = ctx.snapshots.race_ids()
    if len(race_ids) > 1:
        st.sidebar.selectbox("Race", race_ids, key="race_id")
    st.sidebar.caption(f"Snapshots: `{ctx.settings.snapshot_dir}`")


def local_time(ctx: PageContext, moment: datetime | None, with_date: bool = False) -> str:
    """'12:40 local (16:40 UTC)', or '—'."""
    if moment is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M" if with_date else "%H:%M"
    utc = moment.astimezone(UTC).strftime("%H:%M UTC")
    if ctx.timezone is None:
        return moment.astimezone(UTC).strftime(fmt) + " UTC"
    return f"{moment.astimezone(ctx.timezone).strftime(fmt)} local ({utc})"


def clock_caption(ctx: PageContext) -> None:
    """Say which 'now' the page uses."""
    if ctx.race_now_utc is None:
        st.caption("Race clock: no passing or report yet.")
        return
    replay = (ctx.wall_now_utc - ctx.race_now_utc).total_seconds() > shared.DATA_STALE_AFTER_S
    note = " — a replay or a finished race: shown as it was at its latest event" if replay else ""
    st.caption(
        f"Race clock **{local_time(ctx, ctx.race_now_utc, with_date=True)}**: the latest report or passing in the "
        f"data (never later than the wall clock). \"Last 15 min\" counts back from it{note}."
    )


def simulated_banner(what: str = "Some of the data on this page") -> None:
    st.warning(f"**SIMULATED** — {what} comes from the race simulator, not from real runners.", icon=":material/science:")


def no_race_yet(ctx: PageContext) -> bool:
    """Show the empty state and return True when there is nothing to show."""
    if ctx.race_id is None:
        st.info(
            f"Nothing published yet in `{ctx.settings.snapshot_dir}`. Import a race "
            "(`racecramp import race data/races/boston-2017.toml`) or start the stack (`racecramp serve`)."
        )
        return True
    return False


def missing(table: str) -> None:
    st.info(f"`{table}` has not been published yet; it appears after the next ingest computes the marts.")


def sim_suffix(flag: bool) -> str:
    return " — SIMULATED" if flag else ""
