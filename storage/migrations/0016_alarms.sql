-- Alarms watched: a person who raised the alarm (danger words, or "in
-- danger now") and then went silent without sending is filed as an urgent,
-- unfinished request once the wait is over, under the exception for
-- protecting life. A row holds no words: only the channel, the sender's
-- pseudonym and times; what they said stays in their conversation until it
-- is filed. outcome: reported (they sent a report), filed (we did), dropped
-- (they cancelled or wiped the chat: nothing to file).
CREATE TABLE alarms (
    id               bigserial   PRIMARY KEY,
    channel          text        NOT NULL,
    sender_pseudonym text        NOT NULL,
    raised_at        timestamptz NOT NULL DEFAULT now(),
    due_at           timestamptz NOT NULL,
    settled_at       timestamptz,
    outcome          text        CHECK (outcome IN ('reported', 'filed', 'dropped')),
    tip_id           bigint      REFERENCES tips (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX alarms_open_once ON alarms (channel, sender_pseudonym) WHERE settled_at IS NULL;
CREATE INDEX alarms_due_idx ON alarms (due_at) WHERE settled_at IS NULL;

-- The acknowledgement of a filed request is withheld: the person did not
-- ask for it, and a message now could make a watched phone ring.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
-- NOT VALID: the rows there already passed the narrower check, and
-- validating would scan the whole outbox while holding it.
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'undelivered', 'undeliverable', 'withheld')) NOT VALID;
