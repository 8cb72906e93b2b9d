"""Routing: matching interactions to agents atomically in Redis, offers, timers, escalation, decisions."""
