"""Web: the endpoints behind `matcher serve` (app) and the champions' views of what was sent and why (champion)."""
