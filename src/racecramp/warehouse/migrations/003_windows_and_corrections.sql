-- 003: what time windows, receive times and corrections need. A race's course time limit bounds its window
-- (validation.windows); a report keeps the intake's receive time beside the device's; a survey
-- answer may carry when it was given.
ALTER TABLE stg_races ADD COLUMN course_time_limit_s DOUBLE;
ALTER TABLE stg_cramp_reports ADD COLUMN received_at_utc TIMESTAMPTZ;
-- a correction is an explicit new report that names the one it replaces
ALTER TABLE stg_cramp_reports ADD COLUMN supersedes_report_id UUID;
ALTER TABLE stg_survey_responses ADD COLUMN answered_at_utc TIMESTAMPTZ;

CREATE OR REPLACE VIEW races AS SELECT * FROM stg_races;
CREATE OR REPLACE VIEW cramp_reports AS SELECT * FROM stg_cramp_reports;
CREATE OR REPLACE VIEW survey_responses AS SELECT * FROM stg_survey_responses;
