-- Replies to an SMS sender go through the outbox like every other message to
-- a person, so that each has a delivery state; they belong to no report yet.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('ack', 'followup', 'status', 'alert', 'reply'));

-- Numbers that wrote STOP (or that the provider reports as unsubscribed):
-- nothing is sent to them until they write START. Known by pseudonym only.
CREATE TABLE sms_optouts (
    pseudonym     text        PRIMARY KEY,
    opted_out_at  timestamptz NOT NULL DEFAULT now(),
    reason        text        NOT NULL CHECK (reason IN ('stop', 'provider'))
);
