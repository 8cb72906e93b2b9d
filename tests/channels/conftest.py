"""Fixtures for channel tests (defined in channel_fixtures so tests can import its helpers too)."""

from channel_fixtures import fake_provider, http

__all__ = ["fake_provider", "http"]
