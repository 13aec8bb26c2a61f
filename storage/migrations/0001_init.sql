-- tips: the police queue. No column here, or anywhere, holds a chat ID, phone
-- number, Telegram name or username in clear text: senders are known by a
-- keyed pseudonym, and the handle to write back lives sealed in outbox rows.
CREATE TABLE tips (
    id                bigserial PRIMARY KEY,
    reference         text        NOT NULL UNIQUE,
    kind              text        NOT NULL CHECK (kind IN ('tip', 'help')),
    channel           text        NOT NULL CHECK (channel IN ('telegram', 'sms', 'web')),
    status            text        NOT NULL DEFAULT 'new'
                      CHECK (status IN ('new', 'in_review', 'verifying', 'forwarded', 'resolved', 'unfounded', 'duplicate')),
    urgency           text        NOT NULL DEFAULT 'normal' CHECK (urgency IN ('urgent', 'normal')),
    category          text,
    language          text        NOT NULL DEFAULT 'vi',
    sender_pseudonym  text        NOT NULL,
    details           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- the provider's ID of the message that submitted the report: the last
    -- line of defence against a report committed twice
    source_message_id text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tips_source_message_key UNIQUE (channel, source_message_id)
);

-- The triage queue reads open tips, urgent first, oldest first.
CREATE INDEX tips_queue_idx ON tips (urgency DESC, created_at)
    WHERE status IN ('new', 'in_review', 'verifying');
CREATE INDEX tips_sender_idx ON tips (sender_pseudonym);

-- outbox: every durable message to a person, tracked to delivery.
CREATE TABLE outbox (
    id                  bigserial PRIMARY KEY,
    tip_id              bigint      REFERENCES tips (id),
    kind                text        NOT NULL CHECK (kind IN ('ack', 'followup', 'status', 'alert')),
    channel             text        NOT NULL CHECK (channel IN ('telegram', 'sms', 'web')),
    recipient_pseudonym text        NOT NULL,
    recipient_sealed    bytea       NOT NULL,
    language            text        NOT NULL DEFAULT 'vi',
    body                text        NOT NULL,
    status              text        NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'undelivered', 'undeliverable')),
    attempts            integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    lease_until         timestamptz,
    last_error          text,
    provider_message_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    delivered_at        timestamptz,
    failed_at           timestamptz
);

-- The dispatcher claims due rows and reclaims rows whose lease ran out.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE status IN ('queued', 'sending');
CREATE INDEX outbox_tip_idx ON outbox (tip_id);
CREATE INDEX outbox_provider_idx ON outbox (provider_message_id) WHERE provider_message_id IS NOT NULL;

-- audit_log: who saw or changed what, append-only.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL, -- "system", or an officer's username
    action     text        NOT NULL, -- e.g. "tip.created", "tip.viewed"
    tip_id     bigint      REFERENCES tips (id),
    details    jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_tip_idx ON audit_log (tip_id, at);

-- officers: people who triage in the console.
CREATE TABLE officers (
    id            bigserial PRIMARY KEY,
    username      text        NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{2,64}$'),
    role          text        NOT NULL CHECK (role IN ('officer', 'supervisor', 'admin')),
    unit          text,
    password_hash text        NOT NULL,
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
