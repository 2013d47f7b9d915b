-- A feed may let its entries' links point at private addresses, explicitly (feeds.toml).
ALTER TABLE feeds ADD COLUMN allow_private BOOLEAN DEFAULT FALSE;
UPDATE feeds SET allow_private = FALSE WHERE allow_private IS NULL;
