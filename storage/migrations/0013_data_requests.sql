-- Requests a person makes about the data of a report, with only its code
-- (Personal Data Protection Law 91/2025, Decree 356/2025): see what is held,
-- withdraw the consent to be written to or to be shared with support
-- services, erase. Each is answered within 2 working days (due_at).
CREATE TABLE data_requests (
    id                  bigserial   PRIMARY KEY,
    tip_id              bigint      NOT NULL REFERENCES tips (id),
    kind                text        NOT NULL CHECK (kind IN ('access', 'withdraw_followup', 'withdraw_sharing', 'erasure')),
    status              text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'refused')),
    channel             text        NOT NULL CHECK (channel IN ('telegram', 'sms', 'web')),
    requester_pseudonym text        NOT NULL,
    -- the handle to answer the requester, sealed by a master key (not the
    -- report's data key: the answer to an erasure must outlive the report);
    -- NULL once the request is decided
    requester_sealed    bytea,
    language            text        NOT NULL DEFAULT 'vi',
    -- the provider's ID of the message that made the request: a retried
    -- webhook records it once
    source_message_id   text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    due_at              timestamptz NOT NULL,
    decided_at          timestamptz,
    decided_by          text,
    reason              text        CHECK (reason IN ('law_requires_keeping', 'active_investigation')),
    CONSTRAINT data_requests_source_once UNIQUE (channel, source_message_id),
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK ((status = 'refused') = (reason IS NOT NULL))
);
-- One request of a kind waits per report: asking twice adds nothing.
CREATE UNIQUE INDEX data_requests_one_pending ON data_requests (tip_id, kind) WHERE status = 'pending';
CREATE INDEX data_requests_queue_idx ON data_requests (due_at) WHERE status = 'pending';
CREATE INDEX data_requests_tip_idx ON data_requests (tip_id, id);

-- The person withdrew the consent to share the report with support
-- services: new referrals there are refused.
ALTER TABLE tips ADD COLUMN sharing_withdrawn_at timestamptz;

-- The answer to a data request goes through the outbox like every message
-- to a person.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('ack', 'followup', 'status', 'alert', 'reply', 'datareq'));
