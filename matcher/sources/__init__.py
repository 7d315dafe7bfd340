"""Portal clients. Each is a small class on the shared bases in http.py and base.py."""

SOURCE_NAMES = (
    "contracts_finder",
    "digital_marketplace",
    "find_a_tender",
    "public_contracts_scotland",
    "sell2wales",
)
