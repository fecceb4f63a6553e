import pytest

from racecramp.config import SettingsError, hash_token, load_settings


def test_data_dir_defaults_to_var(monkeypatch, tmp_path):
    monkeypatch.delenv("RACECRAMP_DATA_DIR", raising=False)
    monkeypatch.setenv("RACECRAMP_CONFIG", str(tmp_path / "none.toml"))
    assert str(load_settings().data_dir) == "var"


def test_env_overrides_toml(monkeypatch, tmp_path):
    toml = tmp_path / "racecramp.toml"
    toml.write_text('data_dir = "/srv/race"\nintake_port = 9000\n')
    monkeypatch.setenv("RACECRAMP_CONFIG", str(toml))
    monkeypatch.setenv("RACECRAMP_INTAKE_PORT", "9100")
    monkeypatch.delenv("RACECRAMP_DATA_DIR", raising=False)
    s = load_settings()
    assert str(s.data_dir) == "/srv/race"
    assert s.intake_port == 9100


def test_bad_env_value_names_key_and_value(monkeypatch, tmp_path):
    monkeypatch.setenv("RACECRAMP_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("RACECRAMP_INTAKE_PORT", "eighty")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "intake_port" in str(err.value) and "'eighty'" in str(err.value)


def test_bad_toml_value_names_key_and_value(monkeypatch, tmp_path):
    toml = tmp_path / "racecramp.toml"
    toml.write_text('race_id = "Boston 2017"\n')
    monkeypatch.setenv("RACECRAMP_CONFIG", str(toml))
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "race_id" in str(err.value) and "Boston 2017" in str(err.value)


def test_unknown_setting_is_an_error(monkeypatch, tmp_path):
    toml = tmp_path / "racecramp.toml"
    toml.write_text('data_dri = "x"\n')
    monkeypatch.setenv("RACECRAMP_CONFIG", str(toml))
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "data_dri" in str(err.value)


def test_token_hashes_must_be_sha256_digests_under_race_bound_principals(monkeypatch, tmp_path):
    toml = tmp_path / "racecramp.toml"
    monkeypatch.setenv("RACECRAMP_CONFIG", str(toml))
    for key, digest, words in [
        ("station:boston-2017:aid-20mi", "secret", "must be 64 lowercase hex characters"),
        ("station:boston-2017:aid-20mi", hash_token("secret").upper(), "must be 64 lowercase hex characters"),
        ("station:aid-20mi", hash_token("secret"), "'station:aid-20mi' is not command"),  # not bound to a race
        ("feed:timing", hash_token("secret"), "feed:timing:<race_id>"),
    ]:
        toml.write_text(f'[token_hashes]\n"{key}" = "{digest}"\n')
        with pytest.raises(SettingsError, match=words):
            load_settings()
    toml.write_text(f'[token_hashes]\n"station:boston-2017:aid-20mi" = "{hash_token("secret")}"\n')
    assert load_settings().token_hashes["station:boston-2017:aid-20mi"] == hash_token("secret")


def test_season_dataset_defaults_under_the_data_dir_and_takes_any_url(monkeypatch, tmp_path):
    monkeypatch.setenv("RACECRAMP_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("RACECRAMP_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("RACECRAMP_SEASON_DATASET_ROOT", raising=False)
    monkeypatch.delenv("RACECRAMP_DASK_ADDRESS", raising=False)
    settings = load_settings()
    assert settings.season_root == str(tmp_path / "var" / "season")
    assert settings.dask_address == ""  # empty: a local cluster is started for the run
    monkeypatch.setenv("RACECRAMP_SEASON_DATASET_ROOT", "s3://race-archive/season")
    monkeypatch.setenv("RACECRAMP_DASK_ADDRESS", "tcp://10.0.0.5:8786")
    settings = load_settings()
    assert settings.season_root == "s3://race-archive/season"
    assert settings.dask_address == "tcp://10.0.0.5:8786"


def test_report_schedule_and_folder_are_settings_checked_by_range(tmp_path, monkeypatch):
    monkeypatch.setenv("RACECRAMP_REPORT_DIR", str(tmp_path / "out"))
    from racecramp.report.write import report_dir

    assert report_dir(load_settings()) == tmp_path / "out"
    monkeypatch.setenv("RACECRAMP_REPORT_HOUR_LOCAL", "24")
    with pytest.raises(SettingsError, match="report_hour_local"):
        load_settings()
