-- 006: a cramp report may come without km (it takes its station's km) or without either
-- (it counts in the distance mart's `km unknown` row): marts.counting, docs/warehouse.md.
ALTER TABLE stg_cramp_reports ALTER COLUMN point_id DROP NOT NULL;
ALTER TABLE stg_cramp_reports ALTER COLUMN km DROP NOT NULL;
