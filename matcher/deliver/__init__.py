"""Deliver: transports and sending (send), the weekly build-then-send run (week), signed link tokens (tokens) and
the signing key (secrets)."""
