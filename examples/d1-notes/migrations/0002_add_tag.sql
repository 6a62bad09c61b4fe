ALTER TABLE notes ADD COLUMN tag TEXT;
CREATE INDEX notes_tag ON notes (tag);
