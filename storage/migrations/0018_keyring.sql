-- The fingerprint of the master key sender pseudonyms come from (the last in
-- TINBAO_SECRET). A service started without it would make every sender
-- someone new: opt-outs (STOP) would stop matching, and numbers that asked
-- for silence would be texted again. It is refused instead (CheckKeys).
CREATE TABLE keyring (
    singleton        boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    pseudonym_key_id bytea       NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
