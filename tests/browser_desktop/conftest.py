"""Fixtures for the agent-desktop browser tests (in desktop_fixtures, so tests can import its helpers)."""

from desktop_fixtures import browser, new_page

__all__ = ["browser", "new_page"]
