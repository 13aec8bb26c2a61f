-- Crypto-shredding. Each report's personal fields (the answers, the words
-- that raised an alarm, the attachments) and the handle to write back are
-- sealed under a data key of its own, kept here wrapped by a master key.
-- Erasing a report destroys its data key: every copy of those fields, in
-- this database or in a backup of the other tables, becomes unreadable.
-- Back this table up apart from the rest, on a short rotation (README).
CREATE TABLE data_keys (
    tip_id       bigint      PRIMARY KEY REFERENCES tips (id),
    wrapped      bytea,      -- NULL once destroyed
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);

-- sealed holds {"details":…,"distress":…,"media":…} under the data key; the
-- clear details and media columns stay empty for reports made from now on
-- (older rows are read as they are). distress says, without the words,
-- that a report carries an alarm: the queue marks it.
ALTER TABLE tips
    ADD COLUMN sealed    bytea,
    ADD COLUMN distress  boolean NOT NULL DEFAULT false,
    ADD COLUMN erased_at timestamptz;
UPDATE tips SET distress = details ? 'distress';

-- A reporter's replies to an officer, sealed under the report's data key.
ALTER TABLE tip_messages ADD COLUMN sealed_body bytea;
