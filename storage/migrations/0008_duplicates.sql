-- A report closed as a duplicate names the report it repeats; that one's
-- page then carries both threads.
ALTER TABLE tips ADD COLUMN duplicate_of bigint REFERENCES tips (id);
CREATE INDEX tips_duplicate_of_idx ON tips (duplicate_of) WHERE duplicate_of IS NOT NULL;
