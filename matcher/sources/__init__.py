"""Portal clients. Each is a small class on the shared bases in http.py and base.py."""

SOURCE_NAMES = (
    "contracts_finder",
    "digital_marketplace",
    "find_a_tender",
    "public_contracts_scotland",
    "sell2wales",
)

# Longest polling window a portal answers in full (Find a Tender drops releases from longer ones, sources.md 2.3).
# Kept here, free of heavy imports, so config validation can check it.
MAX_WINDOW_HOURS = {"find_a_tender": 6.0}


def window_problem(name: str, window_hours: float) -> str | None:
    """Why `window_hours` is refused for source `name`, naming the key; None when it is fine."""
    limit = MAX_WINDOW_HOURS.get(name)
    if limit is not None and window_hours > limit:
        return (f"sources.{name}.window_hours: at most {limit:g} for this portal (longer windows silently "
                f"miss releases, sources.md 2.3), got {window_hours:g}")
    return None
