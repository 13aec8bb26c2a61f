-- Who has taken a report (an officer's username) and since when. Taking uses
-- FOR UPDATE SKIP LOCKED: two officers never get the same report.
ALTER TABLE tips ADD COLUMN claimed_by text;
ALTER TABLE tips ADD COLUMN claimed_at timestamptz;

-- Officers' console sessions, kept server-side (alexedwards/scs pgxstore,
-- which names the table).
CREATE TABLE sessions (
    token  text        PRIMARY KEY,
    data   bytea       NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- "Log out everywhere": a session carries the generation it was made in;
-- raising it ends every older session.
ALTER TABLE officers ADD COLUMN session_generation integer NOT NULL DEFAULT 0;

-- The audit log is append-only: the database refuses to change or delete a row.
CREATE FUNCTION audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
