"""Batch document analysis: ingest, prompts, scheduling over engine slots, durable jobs."""
