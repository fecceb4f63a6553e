"""Access: open on loopback; when exposed, a login (OIDC or access code) guards every page but station entry."""

from __future__ import annotations

import streamlit.config

from apptest_helpers import app


def _has_kpis(at) -> bool:
    return any(m.label == "Last 15 min" for m in at.metric)


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


def test_oidc_login_when_auth_is_configured(small, monkeypatch):
    monkeypatch.setenv("RACECRAMP_DASHBOARD_HOST", "0.0.0.0")
    auth = {"redirect_uri": "http://race.example/oauth2callback", "cookie_secret": "x" * 32,
            "client_id": "racecramp", "client_secret": "s", "server_metadata_url": "https://idp.example/.well-known/openid-configuration"}
    at = app()
    at.secrets["auth"] = auth
    at.user = {"is_logged_in": False}
    at.run()
    assert not _has_kpis(at)
    assert [b.label for b in at.button] == ["Log in"]
    at = app()
    at.secrets["auth"] = auth
    at.user = {"is_logged_in": True, "email": "director@race.example"}
    at.run()
    assert _has_kpis(at)


def test_station_entry_stays_reachable_with_a_station_token_when_exposed(small, monkeypatch):
    monkeypatch.setenv("RACECRAMP_DASHBOARD_HOST", "0.0.0.0")
    at = app()
    at.secrets["access_code"] = "cramp-2017"
    at.run()
    at.switch_page("pages/station_entry.py").run()
    assert not at.exception
    at.text_input(key="token_entry").input("tok-aid16")
    at.button[0].click().run()
    assert at.header[0].value == "Aid mile 16 · 25.8 km"
