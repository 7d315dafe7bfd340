"""A loopback replay server for the portals: real recorded responses, real API shapes, injectable faults.

    with start_replay() as replay:
        cfg = SourceConfig(base_url=replay.base_url("contracts_finder"), ...)

Recordings live in matcher/data/replay (see its PROVENANCE.md); `recording_dates()` says which day each
source was recorded (the demo treats the Contracts Finder day, 2025-01-23, as "today").
"""
from matcher.replay.faults import Fault, FaultKind
from matcher.replay.recordings import recording_dates, recording_now
from matcher.replay.server import ReplayServer, start_replay

__all__ = ["Fault", "FaultKind", "ReplayServer", "recording_dates", "recording_now", "start_replay"]
