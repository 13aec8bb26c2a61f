-- Officers' flags on a sender (spam, abusive): by keyed pseudonym only,
-- never a chat ID or a number, with a reason, who set it and until when.
-- One flag per sender; setting it again replaces it, clearing deletes it, and
-- the audit log keeps both. A flagged sender's reports are still committed
-- and queued: the queue places them below others of the same urgency and
-- says why. A flag whose expires_at has passed has no effect.
CREATE TABLE sender_flags (
    pseudonym  text        PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('spam', 'abusive')),
    reason     text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    set_by     text        NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL CHECK (expires_at > set_at)
);
