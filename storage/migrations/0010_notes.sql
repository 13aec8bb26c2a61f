-- Officers' notes on a report: what was done, for colleagues. Never shown
-- to the reporter.
CREATE TABLE tip_notes (
    id         bigserial   PRIMARY KEY,
    tip_id     bigint      NOT NULL REFERENCES tips (id),
    officer    text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tip_notes_tip_idx ON tip_notes (tip_id, id);
