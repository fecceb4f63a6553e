-- 004: what the Liljegren WBGT needs beside temperature, humidity and wind (docs/heat.md):
-- where the observation was made (the sun's position), the feed's solar irradiance, its
-- numeric cloud cover and the station pressure. All nullable: older rows and feeds without
-- them keep null, and the WBGT then says which input it lacked.
ALTER TABLE stg_weather_observations ADD COLUMN latitude_deg DOUBLE;
ALTER TABLE stg_weather_observations ADD COLUMN longitude_deg DOUBLE;
ALTER TABLE stg_weather_observations ADD COLUMN shortwave_w_m2 DOUBLE;
ALTER TABLE stg_weather_observations ADD COLUMN cloud_cover_pct DOUBLE;
ALTER TABLE stg_weather_observations ADD COLUMN pressure_hpa DOUBLE;

DROP VIEW weather_observations;
CREATE VIEW weather_observations AS SELECT * FROM stg_weather_observations;
