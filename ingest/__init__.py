"""Ingest: verify signed batches, resolve badges, gate on consent, locate, commit presence, acknowledge."""
