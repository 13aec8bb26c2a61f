-- Photos and files a reporter sent. Each row is one attachment of a report:
-- the original as it came and, for a photo, a copy cleaned of its metadata
-- (EXIF, GPS, XMP…), both sealed under the report's own data key, so that
-- erasing the report (destroying that key) shreds them too. The bare facts
-- (kind, type, size, status) stay for the statistics. Files are capped at
-- 10 MiB each and 10 a report, so they live here, in the same backup and
-- the same transaction as the report.
CREATE TABLE tip_media (
    id              bigserial   PRIMARY KEY,
    tip_id          bigint      NOT NULL REFERENCES tips (id),
    ordinal         integer     NOT NULL,  -- its place among the report's attachments
    kind            text        NOT NULL,  -- photo, document, video, voice
    content_type    text        NOT NULL DEFAULT '', -- sniffed from the bytes, once fetched
    size            bigint      NOT NULL DEFAULT 0,  -- of the original, in bytes
    width           integer,               -- of the cleaned copy
    height          integer,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'fetched', 'failed', 'too_big', 'unsupported')),
    no_preview      text,                  -- why an image has no cleaned copy
    -- Under the report's data key: the provider's file ID (until fetched),
    -- the SHA-256 of the original (evidence that it is unchanged), the
    -- original and the cleaned copy.
    source_sealed   bytea,
    sha256_sealed   bytea,
    original_sealed bytea,
    clean_sealed    bytea,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    fetched_at      timestamptz,
    UNIQUE (tip_id, ordinal)
);
CREATE INDEX tip_media_due ON tip_media (next_attempt_at) WHERE status = 'pending';

-- A photo uploaded in the web chat before its report exists (so before
-- there is a data key): cleaned at once, sealed under a key of its own
-- wrapped by the master key and bound to the sender, and moved into
-- tip_media, sealed again under the report's key, when the report is
-- committed. What is never committed expires and is purged.
CREATE TABLE pending_media (
    id               text        PRIMARY KEY,
    sender_pseudonym text        NOT NULL,
    kind             text        NOT NULL,
    content_type     text        NOT NULL,
    size             bigint      NOT NULL,
    width            integer,
    height           integer,
    no_preview       text,
    wrapped          bytea       NOT NULL,
    sha256_sealed    bytea       NOT NULL,
    original_sealed  bytea       NOT NULL,
    clean_sealed     bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL
);
CREATE INDEX pending_media_sender ON pending_media (sender_pseudonym);
CREATE INDEX pending_media_expiry ON pending_media (expires_at);
