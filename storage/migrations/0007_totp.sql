-- Two-factor sign-in (TOTP, RFC 6238): the shared secret, and the last time
-- step used, so that a code cannot be used twice.
ALTER TABLE officers ADD COLUMN totp_secret text;
ALTER TABLE officers ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;
