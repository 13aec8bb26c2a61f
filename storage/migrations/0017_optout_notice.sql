-- An SMS "dung" with no request under way stops the messages, and, since it
-- is also "đúng" (yes) typed without marks, it gets one text saying so and
-- how to undo it: the only message let through to a number that opted out.
ALTER TABLE sms_optouts ADD COLUMN notice_outbox_id bigint;
