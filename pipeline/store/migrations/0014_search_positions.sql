-- Where each term occurs in its article (word positions, the title's first), so that a quoted
-- phrase is checked in the term table instead of in every candidate's text. Rows indexed
-- before have none: the analyzer's version changed, and maintenance (or `init`) indexes their
-- articles again; until then their phrases are matched in the text as before.
ALTER TABLE search_terms ADD COLUMN pos INTEGER[];
