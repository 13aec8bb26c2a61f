-- When each number's STOP or START (or a cry for help, which ends a STOP)
-- last took effect, by the provider's clock of the message that asked: the
-- gateway may deliver a message again long after it came, and a STOP older
-- than the START that followed it must not stop the number again. Known by
-- pseudonym only, like sms_optouts.
CREATE TABLE sms_consent_changes (
    pseudonym  text        PRIMARY KEY,
    changed_at timestamptz NOT NULL
);
