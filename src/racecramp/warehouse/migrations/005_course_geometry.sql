-- 005: course geometry. Course points get their position on the track (null for files
-- without one), and the track itself is a table of vertices in course order, so the Course
-- page draws the route from the warehouse without a tile server.
ALTER TABLE stg_course_points ADD COLUMN lat DOUBLE;
ALTER TABLE stg_course_points ADD COLUMN lon DOUBLE;
CREATE OR REPLACE VIEW course_points AS SELECT * FROM stg_course_points;

CREATE TABLE stg_course_track (
    race_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,
    km DOUBLE NOT NULL,
    lat DOUBLE NOT NULL,
    lon DOUBLE NOT NULL,
    PRIMARY KEY (race_id, seq)
);

CREATE VIEW course_track AS SELECT * FROM stg_course_track;
