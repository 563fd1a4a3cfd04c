import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clean_cache():
    """Every test starts and ends with an empty Redis cache (a real one, never a fake)."""
    cache.clear()
    yield
    cache.clear()
