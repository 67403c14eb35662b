"""Features: per-second image embeddings (CLIP), their shard cache, and extraction."""
