"""Digest: one digest per SME per ISO week, built from its matches (build) and rendered as an email (render)."""
