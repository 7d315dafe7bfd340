"""SME Opportunity Matcher: weekly, ranked, explained public-sector tender alerts for SMEs."""

__version__ = "0.1.0"
