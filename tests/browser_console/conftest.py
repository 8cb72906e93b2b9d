"""Fixtures for the console browser tests (defined in console_fixtures so tests can import its helpers)."""

from console_fixtures import browser, page

__all__ = ["browser", "page"]
