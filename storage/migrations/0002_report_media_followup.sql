-- Attachments kept by the provider's file IDs (never downloaded here), and
-- whether the sender allowed us to write to them later.
ALTER TABLE tips
    ADD COLUMN media     jsonb   NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN follow_up boolean NOT NULL DEFAULT false;
