"""One settings object, read from racecramp.toml and RACECRAMP_* environment variables.

Precedence (highest first): explicit arguments, environment, racecramp.toml, defaults.
The TOML file is `./racecramp.toml` unless RACECRAMP_CONFIG names another.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import cached_property
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from racecramp.domain import PRINCIPAL_FORMS, PRINCIPAL_PATTERN
from racecramp.errors import RacecrampError

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The dashboard's command token (a secret, so not a setting: Streamlit secrets or this variable).
COMMAND_TOKEN_ENV = "RACECRAMP_COMMAND_TOKEN"


class SettingsError(RacecrampError, ValueError):
    """A setting has a bad value; the message names the key and the value."""


def hash_token(token: str) -> str:
    """Tokens are stored as SHA-256 hex digests, never in clear."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_hash_problems(entries: dict[str, object]) -> list[str]:
    """What is wrong with a principal -> token digest map (settings or the token register); [] when nothing."""
    problems = []
    for key, digest in entries.items():
        if not re.fullmatch(PRINCIPAL_PATTERN, str(key)):
            problems.append(
                f"principal {key!r} is not {PRINCIPAL_FORMS} (e.g. 'station:boston-2017:aid-20mi'): "
                "station and feed tokens are bound to one race; make them with `racecramp tokens --race RACE`"
            )
        if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
            problems.append(f"token hash for {key!r} must be 64 lowercase hex characters (sha256), not {str(digest)[:70]!r}")
    return problems


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RACECRAMP_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Path("./var")
    race_id: str = "boston-2017"

    intake_host: str = "127.0.0.1"
    intake_port: int = Field(default=8765, ge=1, le=65535)
    intake_max_body_bytes: int = Field(default=8_000_000, ge=1024)
    # principal (docs/intake.md) -> sha256 hex of its bearer token (see hash_token)
    token_hashes: dict[str, str] = Field(default_factory=dict)
    # The token register `racecramp tokens` writes (more token hashes, and the revoked ones);
    # the intake re-reads it when it changes. Empty = <data_dir>/intake/token_hashes.toml.
    token_register: str = ""
    # The station app's address printed on station cards; empty = http://<intake_host>:<intake_port>/station/
    station_app_url: str = ""
    # Abuse limits (token buckets: a sustained rate and a burst). A timing feed posts about once a
    # second and a replay at 600x a few times a second per principal, far below these.
    intake_client_requests_per_s: float = Field(default=200.0, gt=0)  # every request, per client address
    intake_client_burst: int = Field(default=2000, ge=1)
    intake_principal_requests_per_s: float = Field(default=50.0, gt=0)  # authenticated requests, per principal
    intake_principal_burst: int = Field(default=1000, ge=1)
    intake_auth_failures_per_minute: float = Field(default=10.0, gt=0)  # 401s, per client address
    intake_auth_failures_burst: int = Field(default=10, ge=1)

    prefect_port: int = Field(default=4200, ge=1, le=65535)
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=8501, ge=1, le=65535)

    # the ingest's fallback schedule (a landing no event announced) and its event window: one
    # run per window at most (a running drain merges everything; orchestration.drain)
    ingest_interval_s: float = Field(default=600.0, gt=0)
    ingest_debounce_s: float = Field(default=30.0, ge=0)
    weather_url: str | None = None
    weather_poll_interval_s: float = Field(default=300.0, gt=0)
    # hourly feeds: a reading is up to 60 min old in normal running; 75 min = one reading missed
    weather_stale_after_s: float = Field(default=4500.0, gt=0)
    # Time windows (validation.windows): an event must lie between these margins around its
    # race (first wave .. course close), and no later than the receiver's clock + clock_skew_s.
    event_window_before_start_s: float = Field(default=3 * 3600.0, ge=0)
    event_window_after_close_s: float = Field(default=6 * 3600.0, ge=0)
    weather_window_margin_s: float = Field(default=12 * 3600.0, ge=0)
    survey_window_days: float = Field(default=30.0, ge=0)
    # 15 min: a tablet that never synced its clock is warned by the station app (its banner) and
    # its reports still count; a year typo is still refused
    clock_skew_s: float = Field(default=900.0, ge=0, le=3600)
    # Dask scheduler for `racecramp season` ("tcp://host:8786"); empty = a LocalCluster with
    # 2 worker processes started for the run.
    dask_address: str = ""
    # Root of the partitioned season dataset (docs/season.md): a local folder or any fsspec
    # URL ("s3://bucket/season"); empty = <data_dir>/season. Credentials go in
    # season_storage_options (passed to polars/fsspec), never in the URL.
    season_dataset_root: str = ""
    season_storage_options: dict[str, str] = Field(default_factory=dict)
    # Post-race report (docs/report.md): the deployment's cron runs at this local time of the
    # race's time zone, this many days after race day; reports go to report_dir
    # (empty = <data_dir>/reports).
    report_hour_local: int = Field(default=6, ge=0, le=23)
    report_minute_local: int = Field(default=0, ge=0, le=59)
    report_days_after: int = Field(default=1, ge=0, le=30)
    report_dir: str = ""

    @field_validator("race_id")
    @classmethod
    def _race_id_slug(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", value):
            raise ValueError("expected a lowercase slug such as 'boston-2017'")
        return value

    @field_validator("token_hashes")
    @classmethod
    def _token_entries(cls, value: dict[str, str]) -> dict[str, str]:
        problems = token_hash_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("RACECRAMP_CONFIG", "racecramp.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))

    # Paths derived from data_dir: every process agrees on them.
    @cached_property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @cached_property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @cached_property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @cached_property
    def replica_path(self) -> Path:
        return self.data_dir / "replica.duckdb"

    @cached_property
    def window_rules(self):
        """The time-window margins as validation.windows.WindowRules."""
        from racecramp.validation.windows import WindowRules

        return WindowRules(before_start_s=self.event_window_before_start_s, after_close_s=self.event_window_after_close_s,
                           weather_margin_s=self.weather_window_margin_s, survey_days=self.survey_window_days,
                           clock_skew_s=self.clock_skew_s)

    @cached_property
    def token_register_path(self) -> Path:
        """The token register: token_register, or <data_dir>/intake/token_hashes.toml."""
        return Path(self.token_register) if self.token_register else self.data_dir / "intake" / "token_hashes.toml"

    @cached_property
    def station_app_address(self) -> str:
        """Where volunteers open the station app (printed on the station cards)."""
        return self.station_app_url or f"http://{self.intake_host}:{self.intake_port}/station/"

    @cached_property
    def season_root(self) -> str:
        """Where the season dataset lives: season_dataset_root, or <data_dir>/season."""
        return self.season_dataset_root or str(self.data_dir / "season")


def load_settings(**overrides: object) -> Settings:
    """Read settings; a bad value raises SettingsError naming the key and the value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            problems.append(f"setting {key}={err.get('input')!r}: {err['msg']}")
        raise SettingsError("; ".join(problems)) from None
