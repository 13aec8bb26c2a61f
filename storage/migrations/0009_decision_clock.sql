-- The decision clock (Criminal Procedure Code arts. 147–149): 20 days; up to
-- 2 months for a complex case; one extension of up to 2 months more.
ALTER TABLE tips ADD COLUMN complex boolean NOT NULL DEFAULT false;
ALTER TABLE tips ADD COLUMN extended boolean NOT NULL DEFAULT false;
