-- Core schema of the traffic back end: cameras, raw events, window metrics, alerts,
-- zones, run-time congestion thresholds and the pipeline's resume state.

CREATE TABLE cameras (
    camera_id           text PRIMARY KEY,
    name                text,
    location            text,
    latitude            double precision,
    longitude           double precision,
    road_segment        text,
    -- Number of lanes the camera watches; NULL = unknown (lanes seen in the data are used).
    lanes               integer CHECK (lanes IS NULL OR lanes > 0),
    -- Survey calibration; NULL = the pipeline's SPEED_TRACKER_PIXEL_TO_METER default.
    metres_per_pixel    double precision CHECK (metres_per_pixel IS NULL OR metres_per_pixel > 0),
    free_flow_speed_kmh double precision CHECK (free_flow_speed_kmh IS NULL OR free_flow_speed_kmh > 0),
    first_seen_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at        timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Every B1 detection, verbatim, plus the pipeline's own speed estimate and the Kafka position it came from.
-- Partitioned by day so retention drops whole partitions.
CREATE TABLE traffic_events (
    camera_id           text NOT NULL,
    ts                  timestamptz NOT NULL,
    frame_id            bigint NOT NULL,
    vehicle_id          text NOT NULL,
    class               text NOT NULL,
    confidence          double precision NOT NULL,
    bbox_x              double precision NOT NULL,
    bbox_y              double precision NOT NULL,
    bbox_w              double precision NOT NULL,
    bbox_h              double precision NOT NULL,
    lane_id             text,
    speed_kmh           double precision,
    estimated_speed_kmh double precision,
    kafka_partition     integer NOT NULL,
    kafka_offset        bigint NOT NULL,
    detection_index     integer NOT NULL DEFAULT 0,
    ingested_at         timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);
CREATE INDEX traffic_events_camera_ts ON traffic_events (camera_id, ts DESC);
-- Events arrive nearly in time order: a BRIN index is tiny and nearly free to maintain.
CREATE INDEX traffic_events_ts ON traffic_events USING brin (ts);

-- One row per closed window: camera-wide (lane_id NULL) and per lane.
CREATE TABLE traffic_metrics (
    camera_id           text NOT NULL,
    lane_id             text,
    window_start        timestamptz NOT NULL,
    window_end          timestamptz NOT NULL,
    vehicle_count       integer NOT NULL,
    event_count         integer NOT NULL,
    avg_speed_kmh       double precision,
    -- reported | estimated | mixed | none: where avg_speed_kmh came from.
    speed_source        text NOT NULL,
    car_count           integer NOT NULL DEFAULT 0,
    truck_count         integer NOT NULL DEFAULT 0,
    bus_count           integer NOT NULL DEFAULT 0,
    motorcycle_count    integer NOT NULL DEFAULT 0,
    bicycle_count       integer NOT NULL DEFAULT 0,
    other_count         integer NOT NULL DEFAULT 0,
    avg_confidence      double precision,
    congestion_score    double precision NOT NULL,
    congestion_level    text NOT NULL CHECK (congestion_level IN ('LOW', 'MODERATE', 'HIGH', 'SEVERE')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT traffic_metrics_window UNIQUE NULLS NOT DISTINCT (camera_id, lane_id, window_start)
) PARTITION BY RANGE (window_start);
CREATE INDEX traffic_metrics_start ON traffic_metrics (window_start DESC);

CREATE TABLE alerts (
    alert_id            bigserial PRIMARY KEY,
    camera_id           text NOT NULL,
    alert_type          text NOT NULL DEFAULT 'congestion',
    severity            text NOT NULL,
    peak_severity       text NOT NULL,
    road_segment        text,
    score               double precision NOT NULL,
    message             text NOT NULL,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'resolved')),
    -- Identity of an alert: the camera and the start of the window that opened it (makes writes idempotent).
    opened_window_start timestamptz NOT NULL,
    opened_at           timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    resolved_at         timestamptz,
    acknowledged_by     text,
    acknowledged_at     timestamptz,
    UNIQUE (camera_id, opened_window_start)
);
CREATE INDEX alerts_status ON alerts (status, opened_at DESC);
CREATE INDEX alerts_opened ON alerts (opened_at DESC);

CREATE TABLE zones (
    zone_id             bigserial PRIMARY KEY,
    name                text NOT NULL,
    description         text,
    camera_ids          text[] NOT NULL DEFAULT '{}',
    polygon             jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Exactly one row: the congestion model's run-time parameters.
CREATE TABLE congestion_thresholds (
    id                       integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    moderate                 double precision NOT NULL DEFAULT 0.35,
    high                     double precision NOT NULL DEFAULT 0.55,
    severe                   double precision NOT NULL DEFAULT 0.75,
    speed_weight             double precision NOT NULL DEFAULT 0.6,
    density_weight           double precision NOT NULL DEFAULT 0.4,
    lane_capacity_per_window double precision NOT NULL DEFAULT 8.0,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    updated_by               text,
    CHECK (0 < moderate AND moderate < high AND high < severe AND severe <= 1),
    CHECK (speed_weight >= 0 AND density_weight >= 0 AND speed_weight + density_weight > 0),
    CHECK (lane_capacity_per_window > 0)
);
INSERT INTO congestion_thresholds (id) VALUES (1);

-- The pipeline's Kafka resume positions, written in the same transaction as the rows they produced.
CREATE TABLE pipeline_offsets (
    group_id            text NOT NULL,
    topic               text NOT NULL,
    kafka_partition     integer NOT NULL,
    next_offset         bigint NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, kafka_partition)
);

-- Per-camera operator state (open windows, watermark, speed tracks, alert state) at the same commit point.
CREATE TABLE pipeline_checkpoints (
    group_id            text NOT NULL,
    camera_id           text NOT NULL,
    state               jsonb NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, camera_id)
);

-- Creates the day partition of a time-partitioned table holding `day`, if missing.
CREATE FUNCTION b2_ensure_day_partition(parent text, day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    part text := format('%s_p%s', parent, to_char(day, 'YYYYMMDD'));
BEGIN
    IF to_regclass(part) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            part, parent, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    END IF;
END;
$$;

-- Removes rows older than `cutoff` from a day-partitioned table: whole partitions are dropped,
-- the partition straddling the cutoff is trimmed. Returns the number of rows removed.
CREATE FUNCTION b2_retention_trim(parent text, time_column text, cutoff timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    part_day date;
    n bigint;
    removed bigint := 0;
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = parent
    LOOP
        part_day := to_date(right(part.relname, 8), 'YYYYMMDD');
        IF (part_day + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff THEN
            EXECUTE format('SELECT count(*) FROM %I', part.relname) INTO n;
            EXECUTE format('DROP TABLE %I', part.relname);
            removed := removed + n;
        ELSIF part_day::timestamp AT TIME ZONE 'UTC' < cutoff THEN
            EXECUTE format('DELETE FROM %I WHERE %I < %L', part.relname, time_column, cutoff);
            GET DIAGNOSTICS n = ROW_COUNT;
            removed := removed + n;
        END IF;
    END LOOP;
    RETURN removed;
END;
$$;

-- Run-time changes announced to every listener (pipeline workers, query servers).
CREATE FUNCTION b2_notify_thresholds() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('b2_thresholds', json_build_object('updated_at', NEW.updated_at)::text);
    RETURN NEW;
END;
$$;
CREATE TRIGGER congestion_thresholds_notify AFTER INSERT OR UPDATE ON congestion_thresholds
    FOR EACH ROW EXECUTE FUNCTION b2_notify_thresholds();

CREATE FUNCTION b2_notify_cameras() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('b2_cameras', json_build_object('camera_id', NEW.camera_id)::text);
    RETURN NEW;
END;
$$;
-- Only calibration-relevant edits are announced, not the pipeline's own last_seen_at bumps.
CREATE TRIGGER cameras_notify AFTER INSERT OR UPDATE OF lanes, metres_per_pixel, free_flow_speed_kmh, road_segment ON cameras
    FOR EACH ROW EXECUTE FUNCTION b2_notify_cameras();
