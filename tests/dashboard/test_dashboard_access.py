"""Access: a configured login (OIDC via st.login, else an access code) guards every page but
station entry; with no login configured the app is open on loopback and closed when exposed."""

from __future__ import annotations

import polars as pl
import pytest
import streamlit.config
from streamlit.runtime.secrets import secrets_singleton
from streamlit.testing.v1 import AppTest

from racecramp.dashboard import ui
from racecramp.views.shared import Snapshots

from apptest_helpers import APP, APPTEST_TIMEOUT_S, app, running_intake

AUTH = {"redirect_uri": "http://race.example/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "racecramp", "client_secret": "s",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}
DIRECTOR = {"is_logged_in": True, "email": "director@race.example", "name": "Dr Ada"}
DATA_PAGES = ("pages/command.py", "pages/course.py", "pages/rates.py", "pages/runner.py", "pages/data_quality.py")
PAGE_TITLES = {"pages/course.py": "Course · ", "pages/rates.py": "Rates · ", "pages/runner.py": "Runner lookup · ",
               "pages/data_quality.py": "Data quality"}


def _has_kpis(at) -> bool:
    return any(m.label == "Last 15 min" for m in at.metric)


def _oidc_app(user: dict):
    at = app()
    at.secrets["auth"] = AUTH
    at.user = user
    return at


def test_loopback_dashboard_needs_no_login(small):
    at = app().run()
    assert _has_kpis(at)


def test_exposed_dashboard_asks_for_the_access_code(small, monkeypatch):
    monkeypatch.setenv("RACECRAMP_DASHBOARD_HOST", "0.0.0.0")
    at = app()
    at.secrets["access_code"] = "cramp-2017"
    at.run()
    assert not _has_kpis(at)
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert any("Wrong access code" in e.value for e in at.error)
    assert not _has_kpis(at)
    at.text_input[0].input("cramp-2017")
    at.button[0].click().run()
    assert _has_kpis(at)


class FrozenClock:
    def __init__(self) -> None:
        self.now_s = 5000.0

    def __call__(self) -> float:
        return self.now_s


def _enter(at, code: str):
    at.text_input[0].input(code)
    return at.button[0].click().run()


def test_the_fourth_attempt_after_three_wrong_access_codes_is_refused_with_a_wait(small, monkeypatch):
    clock = FrozenClock()
    monkeypatch.setattr(ui, "access_clock", clock)
    at = app()
    at.secrets["access_code"] = "cramp-2017"
    at.run()
    for _ in range(3):
        assert any("Wrong access code" in e.value for e in _enter(at, "wrong").error)
    refused = _enter(at, "cramp-2017")  # even the right code is not checked during the wait
    assert not _has_kpis(refused)
    assert any("wait 5 s" in e.value for e in refused.error)
    clock.now_s += 5
    _enter(at, "wrong")  # the fourth wrong code: the next wait is twice as long
    clock.now_s += 9
    assert any("wait 1 s" in e.value for e in _enter(at, "cramp-2017").error)
    clock.now_s += 1
    assert _has_kpis(_enter(at, "cramp-2017"))


def test_wrong_access_codes_from_one_client_address_make_a_new_session_wait_too(small, monkeypatch):
    clock = FrozenClock()
    monkeypatch.setattr(ui, "access_clock", clock)
    monkeypatch.setattr(ui, "client_address", lambda: "203.0.113.7")
    monkeypatch.setattr(ui, "_client_attempts", type(ui._client_attempts)())
    guesser = app()
    guesser.secrets["access_code"] = "cramp-2017"
    guesser.run()
    for _ in range(3):
        _enter(guesser, "guess")
    fresh = app()  # a new browser session from the same address
    fresh.secrets["access_code"] = "cramp-2017"
    fresh.run()
    refused = _enter(fresh, "cramp-2017")
    assert not _has_kpis(refused) and any("wait 5 s" in e.value for e in refused.error)


def test_the_wait_doubles_with_each_wrong_code_up_to_fifteen_minutes():
    attempts = ui.AccessAttempts()
    waits = []
    for _ in range(12):
        attempts.failed(0.0)
        waits.append(attempts.wait_s(0.0))
    assert waits == [0, 0, 5, 10, 20, 40, 80, 160, 320, 640, 900, 900]


def test_a_configured_access_code_is_asked_for_on_loopback_too(small):
    # Behind a reverse proxy Streamlit binds to 127.0.0.1 yet is reachable from the network.
    at = app()
    at.secrets["access_code"] = "cramp-2017"
    at.run()
    assert not _has_kpis(at)
    at.text_input[0].input("cramp-2017")
    at.button[0].click().run()
    assert _has_kpis(at)
    at.sidebar.button(key="log_out").click().run()
    assert not _has_kpis(at)
    assert [t.label for t in at.text_input] == ["Access code"]


def test_exposed_without_any_login_configured_shows_nothing_but_says_why(small, monkeypatch):
    monkeypatch.setenv("RACECRAMP_DASHBOARD_HOST", "0.0.0.0")
    at = app().run()
    assert not _has_kpis(at)
    assert any("no login is configured" in e.value for e in at.error)


def test_unset_server_address_means_every_interface_so_login_is_required(small, monkeypatch):
    streamlit.config.set_option("server.address", None)
    try:
        at = app().run()
    finally:
        streamlit.config.set_option("server.address", "127.0.0.1")
    assert not _has_kpis(at)


@pytest.mark.parametrize("exposed", [False, True])
def test_with_oidc_configured_a_visitor_who_is_not_logged_in_sees_only_the_login_prompt(small, monkeypatch, exposed):
    if exposed:
        monkeypatch.setenv("RACECRAMP_DASHBOARD_HOST", "0.0.0.0")
    at = _oidc_app({"is_logged_in": False}).run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.metric and not at.dataframe and not at.table and not at.get("arrow_vega_lite_chart")
    assert not at.sidebar.text_input, "no text input in the sidebar before login"
    for page in DATA_PAGES[1:]:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


def test_a_logged_in_user_sees_every_page_and_can_log_out(small):
    at = _oidc_app(dict(DIRECTOR)).run()
    assert _has_kpis(at)
    assert any("director@race.example" in c.value for c in at.sidebar.caption)
    assert not at.sidebar.text_input, "the login says who acts: nobody types a name"
    for page, title in PAGE_TITLES.items():
        at.switch_page(page).run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert at.title[0].value.startswith(title), page
    at.switch_page(DATA_PAGES[0]).run()
    at.sidebar.button(key="log_out").click().run()
    assert not at.exception
    assert at.user == {"is_logged_in": False}
    assert not _has_kpis(at)
    assert [b.label for b in at.button] == ["Log in"]


@pytest.mark.parametrize("page", DATA_PAGES)
def test_a_page_file_run_without_app_py_still_needs_the_login(small, monkeypatch, page):
    # A fresh Streamlit server runs a file under dashboards/pages/ directly when the first
    # session asks for its URL (pages-directory mode), so app.py's navigation is skipped.
    monkeypatch.syspath_prepend(str(APP.parent))
    at = AppTest.from_file(str(APP.parent / page), default_timeout=APPTEST_TIMEOUT_S)
    at.secrets["access_code"] = "cramp-2017"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [t.label for t in at.text_input] == ["Access code"]
    assert not at.metric and not at.dataframe and not at.get("arrow_vega_lite_chart")
    at.text_input[0].input("cramp-2017")
    at.button[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.title and at.title[0].value != "racecramp medical command"


def test_an_incomplete_auth_section_says_which_keys_are_missing(small):
    at = app()
    at.secrets["auth"] = {k: v for k, v in AUTH.items() if k not in ("client_id", "cookie_secret")}
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.button
    assert any("cookie_secret, client_id" in e.value for e in at.error)
    assert not _has_kpis(at)


def test_log_in_starts_the_oidc_redirect_with_a_secrets_file(small, tmp_path):
    # st.login reads .streamlit/secrets.toml itself (not AppTest.secrets), so use a real file.
    lines = ["[auth]"] + [f'{key} = "{value}"' for key, value in AUTH.items()]
    (tmp_path / "secrets.toml").write_text("\n".join(lines) + "\n")
    previous = streamlit.config.get_option("secrets.files")
    streamlit.config.set_option("secrets.files", [str(tmp_path / "secrets.toml")])
    secrets_singleton._reset()
    try:
        at = app()
        at.user = {}  # a fresh browser: st.user reads is_logged_in = False from the [auth] section
        at.run()
        assert [b.label for b in at.button] == ["Log in"]
        at.button[0].click().run()  # fails with StreamlitMissingAuthlibError when Authlib is missing
        assert not at.exception, [e.message for e in at.exception]
    finally:
        streamlit.config.set_option("secrets.files", previous)
        secrets_singleton._reset()


def test_an_acknowledgement_is_signed_with_the_logged_in_users_email(small):
    from test_command_page_actions import _landed_actions

    alerts = Snapshots(small.snapshot_dir).table("alerts")
    target = alerts.filter(pl.col("status") == "open").row(0, named=True)
    before = len(_landed_actions(small))
    with running_intake(small):
        at = _oidc_app(dict(DIRECTOR))
        at.secrets["command_token"] = "tok-command"
        at.run()
        at.button(key=f"ack-{target['alert_id']}").click().run()
        assert not at.exception
    landed = _landed_actions(small)[before:]
    assert [(r["alert_id"], r["action"], r["by"]) for r in landed] == [
        (target["alert_id"], "acknowledge", "director@race.example")]


def test_station_entry_stays_reachable_when_exposed_and_only_points_to_the_station_app(small, monkeypatch):
    monkeypatch.setenv("RACECRAMP_DASHBOARD_HOST", "0.0.0.0")
    at = app()
    at.secrets["access_code"] = "cramp-2017"
    at.run()
    at.switch_page("pages/station_entry.py").run()
    assert not at.exception
    assert "/station/" in " ".join(m.value for m in at.markdown)
    assert not at.metric and not at.dataframe  # nothing of the race is shown without a login


def test_station_entry_under_oidc_shows_the_link_and_no_data_to_a_visitor_not_logged_in(small):
    at = _oidc_app({"is_logged_in": False}).run()
    at.switch_page("pages/station_entry.py").run()
    assert not at.exception
    assert "/station/" in " ".join(m.value for m in at.markdown)
    assert not at.metric and not at.dataframe
