"""Switchboard: shared infrastructure (settings, clock, database, Redis keys, logging, CLI)."""
