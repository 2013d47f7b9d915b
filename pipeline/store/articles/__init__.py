"""Articles in the warehouse: writing them (write), reading them (read) and reading their
vectors (vectors). `from pipeline.store import articles as article_store` reaches every
function of the three."""

from pipeline.store.articles.read import (
    borrowed,
    counts_by_source,
    existing_canonical_urls,
    max_article_id,
    seed_states,
    table_counts,
    titles,
)
from pipeline.store.articles.vectors import (
    article_vectors,
    chunk_vectors,
    dedup_rows,
    ids_with_chunks,
    lacking_leads,
    lead_inputs,
    vector_models,
)
from pipeline.store.articles.write import (
    delete_articles,
    evidence_json,
    insert_articles,
    replace_embedding,
    set_title_vectors,
    write_entities,
    write_leads,
    write_topics,
)
from pipeline.store.texts import content_hashes, texts, warehouse_texts

__all__ = [
    "article_vectors",
    "borrowed",
    "chunk_vectors",
    "content_hashes",
    "counts_by_source",
    "dedup_rows",
    "delete_articles",
    "evidence_json",
    "existing_canonical_urls",
    "ids_with_chunks",
    "insert_articles",
    "lacking_leads",
    "lead_inputs",
    "max_article_id",
    "replace_embedding",
    "seed_states",
    "set_title_vectors",
    "table_counts",
    "texts",
    "titles",
    "vector_models",
    "warehouse_texts",
    "write_entities",
    "write_leads",
    "write_topics",
]
