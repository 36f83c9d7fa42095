-- Rows PostgreSQL refused with a data error (SQLSTATE classes 22, 23, 54...). The sink isolates
-- them from their batch, keeps them here and commits the rest in the same transaction, so one bad
-- message costs its own row and never halts the pipeline. Written in the transaction that stores
-- the Kafka positions covering them: a replay cannot add a row twice.
CREATE TABLE quarantine (
    quarantine_id       bigserial PRIMARY KEY,
    group_id            text NOT NULL,
    -- event | window | alert | checkpoint | notification: the kind of row that was refused.
    kind                text NOT NULL,
    camera_id           text,
    kafka_partition     integer,
    kafka_offset        bigint,
    detection_index     integer,
    sqlstate            text NOT NULL,
    reason              text NOT NULL,
    -- The message's bytes as read from Kafka when they could be fetched again ('kafka'),
    -- else the row as the pipeline would have written it, as JSON ('row').
    payload             bytea NOT NULL,
    payload_source      text NOT NULL CHECK (payload_source IN ('kafka', 'row')),
    quarantined_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_at ON quarantine (quarantined_at DESC);

-- One active pipeline (one timely cluster) per group. The active one holds a session advisory
-- lock and its generation; every commit transaction bumps `commits` only where the generation is
-- still its own, so a pipeline that was superseded cannot commit, and after a connection lost
-- during COMMIT the sink learns from `commits` whether that transaction landed.
CREATE TABLE pipeline_leases (
    group_id            text PRIMARY KEY,
    generation          bigint NOT NULL,
    holder              text NOT NULL,
    commits             bigint NOT NULL DEFAULT 0,
    acquired_at         timestamptz NOT NULL DEFAULT now(),
    committed_at        timestamptz
);
