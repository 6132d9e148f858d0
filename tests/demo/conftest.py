"""Demo histories shared by the demo tests (generated once per session: they are deterministic)."""

from __future__ import annotations

import pytest

from predictor.demo import generate_history


@pytest.fixture(scope="session")
def large_history():
    """About 180,000 deployments over 120 days and 30 services: enough to see every planted effect."""
    return generate_history(seed=11, services=30, days=120, deployments_per_day=1500)


@pytest.fixture(scope="session")
def small_history():
    """The default size (about 4,800 deployments, 20 services) for writers and record shapes."""
    return generate_history(seed=3)
