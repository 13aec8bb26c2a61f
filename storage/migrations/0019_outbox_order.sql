-- Messages to one recipient go out in the order they were queued: the claim
-- passes over a message while an older one to the same recipient is still
-- queued or being sent. Two SMS replies queued a moment apart (a person
-- typing fast, or a backlog handled after an outage) were sent in either
-- order, since each dispatcher worker waits for the recipient's next slot
-- on its own. This index finds the older one.
CREATE INDEX outbox_recipient_pending_idx ON outbox (channel, recipient_pseudonym, id)
    WHERE status IN ('queued', 'sending');
