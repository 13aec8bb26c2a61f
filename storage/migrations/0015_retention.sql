-- Retention. closed_at is when a report reached a final status (resolved,
-- unfounded, duplicate); the purge counts its periods from it. Reopening a
-- report clears it.
ALTER TABLE tips ADD COLUMN closed_at timestamptz;
UPDATE tips SET closed_at = updated_at WHERE status IN ('resolved', 'unfounded', 'duplicate');
CREATE INDEX tips_closed_idx ON tips (closed_at) WHERE closed_at IS NOT NULL;

CREATE FUNCTION tips_closed_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('resolved', 'unfounded', 'duplicate') THEN
        IF OLD.status NOT IN ('resolved', 'unfounded', 'duplicate') THEN
            NEW.closed_at := now();
        END IF;
    ELSE
        NEW.closed_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tips_closed_at BEFORE UPDATE OF status ON tips
    FOR EACH ROW EXECUTE FUNCTION tips_closed_at();

-- The audit log stays append-only, with one exception: the purge may delete
-- entries older than a year (the shortest audit retention it accepts), and
-- only in a transaction that says it is the purge. Nobody may change one.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tinbao.purge', true) = 'on'
       AND OLD.at < now() - interval '365 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE INDEX outbox_created_idx ON outbox (created_at);
