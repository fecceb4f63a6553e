-- 002: race closures. A closure says "this race is over: report on it" (racecramp close-race,
-- POST /v1/races/{race_id}/close). Keyed by race and time, so a race closed twice keeps both.
CREATE TABLE stg_race_closures (
    race_id VARCHAR NOT NULL,
    closed_at_utc TIMESTAMPTZ NOT NULL,
    closed_by VARCHAR NOT NULL,
    PRIMARY KEY (race_id, closed_at_utc)
);

CREATE VIEW race_closures AS SELECT * FROM stg_race_closures;
