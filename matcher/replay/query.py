"""What the emulated OCDS search endpoints share: refusing a bad query, and the stages and limit parameters."""
from __future__ import annotations


class BadQuery(ValueError):
    """Answered with HTTP 400 and this message."""


def stages_and_limit(params: dict[str, str], allowed: tuple[str, ...]) -> tuple[set[str] | None, int]:
    """The `stages` filter (None: all) and the page `limit` (1-100, default 100), as the portals check them."""
    stages = None
    if params.get("stages"):
        stages = {s.strip() for s in params["stages"].split(",") if s.strip()}
        unknown = sorted(stages - set(allowed))
        if unknown:
            raise BadQuery(f"stages: unknown stage {unknown[0]!r}; allowed: {', '.join(allowed)}")
    try:
        limit = int(params.get("limit") or 100)
    except ValueError:
        raise BadQuery(f"limit: not a number: {params['limit']!r}") from None
    if not 1 <= limit <= 100:
        raise BadQuery(f"limit: must be 1-100, got {limit}")
    return stages, limit
