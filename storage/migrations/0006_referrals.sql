-- Units (agencies) reports are referred to: police, Border Guard, health and
-- social protection, legal aid, the 111 hotline, and those an admin adds.
CREATE TABLE units (
    id         bigserial   PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    kind       text        NOT NULL CHECK (kind IN ('police', 'border_guard', 'health', 'legal_aid', 'hotline', 'other')),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO units (name, kind) VALUES
    ('Công an tỉnh', 'police'),
    ('Bộ đội Biên phòng', 'border_guard'),
    ('Sở Y tế (bảo trợ xã hội)', 'health'),
    ('Trợ giúp pháp lý', 'legal_aid'),
    ('Tổng đài 111', 'hotline');

-- Referrals (chuyển tuyến): which unit got a report, with what note and
-- exactly which of its answers, from whom and when; the receiving unit
-- acknowledges.
CREATE TABLE referrals (
    id              bigserial   PRIMARY KEY,
    tip_id          bigint      NOT NULL REFERENCES tips (id),
    unit_id         bigint      NOT NULL REFERENCES units (id),
    note            text        NOT NULL DEFAULT '',
    shared          text[]      NOT NULL,
    referred_by     text        NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    acknowledged_by text,
    acknowledged_at timestamptz
);
CREATE INDEX referrals_tip_idx ON referrals (tip_id);
CREATE INDEX referrals_unit_idx ON referrals (unit_id, tip_id);
