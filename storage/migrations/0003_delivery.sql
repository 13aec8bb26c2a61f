-- A message's delivery state only moves forward: queued < sending < sent <
-- delivered, and failed, undelivered, undeliverable end it. A late or
-- duplicate receipt can never move it back. The one step back allowed is a
-- retry: a message being sent returns to the queue.
CREATE FUNCTION outbox_status_rank(s text) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE s WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2 WHEN 'delivered' THEN 3 ELSE 4 END
$$;

CREATE FUNCTION outbox_forward_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = OLD.status OR (OLD.status = 'sending' AND NEW.status = 'queued') THEN
        RETURN NEW;
    END IF;
    IF outbox_status_rank(OLD.status) >= 3 OR outbox_status_rank(NEW.status) <= outbox_status_rank(OLD.status) THEN
        RAISE EXCEPTION 'outbox %: status may not move from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER outbox_forward_only BEFORE UPDATE OF status ON outbox
    FOR EACH ROW EXECUTE FUNCTION outbox_forward_only();

-- Every receipt a provider sends, once: the raw log, and the dedupe key for
-- receipts delivered twice.
CREATE TABLE delivery_receipts (
    id                  bigserial PRIMARY KEY,
    provider_message_id text        NOT NULL,
    status              text        NOT NULL,
    error_code          text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT delivery_receipts_once UNIQUE (provider_message_id, status)
);

-- The two-way anonymous thread of a tip: officers' messages out, the
-- reporter's replies in. Officers see text, never who.
CREATE TABLE tip_messages (
    id                bigserial PRIMARY KEY,
    tip_id            bigint      NOT NULL REFERENCES tips (id),
    direction         text        NOT NULL CHECK (direction IN ('in', 'out')),
    body              text        NOT NULL,
    officer           text,        -- who wrote an outgoing message
    outbox_id         bigint      REFERENCES outbox (id),
    source_channel    text,
    source_message_id text,        -- the provider's ID of an incoming reply
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tip_messages_source_once UNIQUE (source_channel, source_message_id)
);
CREATE INDEX tip_messages_tip_idx ON tip_messages (tip_id, id);

-- When the officers' group was told that a report's deadline is near.
ALTER TABLE tips ADD COLUMN deadline_alerted_at timestamptz;
CREATE INDEX tips_unalerted_idx ON tips (created_at) WHERE status = 'new' AND deadline_alerted_at IS NULL;
