"""The store: tables (models), engine and sessions (engine), digest claims (claims), profiles, feedback."""
from matcher.store.engine import as_utc, init_db, make_engine, session_scope

__all__ = ["as_utc", "init_db", "make_engine", "session_scope"]
