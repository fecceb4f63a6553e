-- 001: landing log, raw / staging layers, quarantine, analyst views.
CREATE TABLE landing_log (
    batch_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    source VARCHAR,
    landed_at_utc TIMESTAMPTZ,
    ingested_at_utc TIMESTAMPTZ NOT NULL,
    rows INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    quarantined INTEGER NOT NULL
);

-- raw_*: every landed record as it arrived (append-only audit trail).
CREATE TABLE raw_records (
    kind VARCHAR NOT NULL,
    batch_id VARCHAR NOT NULL,
    row_in_batch INTEGER NOT NULL,
    landed_at_utc TIMESTAMPTZ,
    source VARCHAR,
    record JSON,
    PRIMARY KEY (batch_id, row_in_batch)
);

CREATE TABLE stg_races (
    race_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    date DATE NOT NULL,
    timezone VARCHAR NOT NULL,
    distance_km DOUBLE NOT NULL,
    start_waves STRUCT(wave INTEGER, start_utc TIMESTAMPTZ, bib_from VARCHAR, bib_to VARCHAR, bib_prefix VARCHAR)[]
);

CREATE TABLE stg_course_points (
    race_id VARCHAR NOT NULL,
    point_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    km DOUBLE NOT NULL,
    label VARCHAR NOT NULL,
    beds INTEGER,
    position_source VARCHAR,
    PRIMARY KEY (race_id, point_id)
);

CREATE TABLE stg_participants (
    race_id VARCHAR NOT NULL,
    bib VARCHAR NOT NULL,
    sex VARCHAR,
    age INTEGER,
    age_band VARCHAR,
    wave INTEGER,
    wave_start_utc TIMESTAMPTZ,
    declared_finish_s DOUBLE,
    declared_is_synthetic BOOLEAN NOT NULL,
    finished BOOLEAN NOT NULL,
    official_time_s DOUBLE,
    simulated BOOLEAN NOT NULL,
    PRIMARY KEY (race_id, bib)
);

CREATE TABLE stg_passings (
    race_id VARCHAR NOT NULL,
    bib VARCHAR NOT NULL,
    point_id VARCHAR NOT NULL,
    km DOUBLE NOT NULL,
    net_time_s DOUBLE NOT NULL,
    passed_at_utc TIMESTAMPTZ,
    simulated BOOLEAN NOT NULL,
    PRIMARY KEY (race_id, bib, point_id)
);

CREATE TABLE stg_weather_observations (
    source VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    observed_at_utc TIMESTAMPTZ NOT NULL,
    temp_c DOUBLE NOT NULL,
    dew_point_c DOUBLE,
    rh_pct DOUBLE,
    wind_m_s DOUBLE,
    conditions VARCHAR,
    race_id VARCHAR,
    interpolated BOOLEAN NOT NULL,
    simulated BOOLEAN NOT NULL,
    PRIMARY KEY (source, location, observed_at_utc)
);

CREATE TABLE stg_cramp_reports (
    report_id UUID PRIMARY KEY,
    race_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    simulated BOOLEAN NOT NULL,
    point_id VARCHAR NOT NULL,
    km DOUBLE NOT NULL,
    bib VARCHAR,
    reported_at_utc TIMESTAMPTZ NOT NULL,
    muscle_group VARCHAR,
    severity VARCHAR,
    treatment VARCHAR,
    disposition VARCHAR,
    entered_by VARCHAR
);

CREATE TABLE stg_survey_responses (
    race_id VARCHAR NOT NULL,
    bib VARCHAR NOT NULL,
    cramped BOOLEAN NOT NULL,
    onset_km DOUBLE,
    muscles VARCHAR,
    longest_training_run_km DOUBLE,
    weekly_km DOUBLE,
    strength_training BOOLEAN,
    plyometrics BOOLEAN,
    target_pace_s_per_km DOUBLE,
    electrolyte_drinks BOOLEAN,
    heat_acclimatised BOOLEAN,
    prior_cramps BOOLEAN,
    simulated BOOLEAN NOT NULL,
    PRIMARY KEY (race_id, bib)
);

CREATE TABLE stg_alert_actions (
    alert_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    "by" VARCHAR NOT NULL,
    at_utc TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert_id, action, at_utc)
);

CREATE TABLE quarantine (
    landed_at_utc TIMESTAMPTZ,
    source VARCHAR,
    record JSON,
    "column" VARCHAR,
    "check" VARCHAR,
    message VARCHAR NOT NULL,
    batch_id VARCHAR NOT NULL,
    row_in_batch INTEGER NOT NULL
);

CREATE VIEW races AS SELECT * FROM stg_races;
CREATE VIEW course_points AS SELECT * FROM stg_course_points;
CREATE VIEW participants AS SELECT * FROM stg_participants;
CREATE VIEW passings AS SELECT * FROM stg_passings;
CREATE VIEW weather_observations AS SELECT * FROM stg_weather_observations;
CREATE VIEW cramp_reports AS SELECT * FROM stg_cramp_reports;
CREATE VIEW survey_responses AS SELECT * FROM stg_survey_responses;
