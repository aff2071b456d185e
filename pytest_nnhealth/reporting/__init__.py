"""Renderers and records for the session: pure functions of ``runs`` records."""
