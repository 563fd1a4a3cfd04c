import pytest
from django.core.management import call_command


@pytest.fixture
def migrate_forward_at_the_end(transactional_db):
    """For tests that migrate ``metrics`` back: whatever happens, the schema is the latest again afterwards."""
    try:
        yield
    finally:
        call_command("migrate", "metrics", verbosity=0)
