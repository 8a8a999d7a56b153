"""Pilot tests: dates in UTC for the whole run (the app is also given `tz=UTC`)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _always_utc(utc: None) -> None:
    """Dates on screen in UTC, whatever the machine's zone."""
