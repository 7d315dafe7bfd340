"""Ingest: polling each source from its watermark (poll), and writing what it returns into the store once per
opportunity across portals (notices, dedupe)."""
