"""Fixtures for channel flow tests (defined in channel_flow_fixtures so tests can import helpers too)."""

from channel_flow_fixtures import provider

__all__ = ["provider"]
