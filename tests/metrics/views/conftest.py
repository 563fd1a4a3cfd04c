import pytest

from tests.metrics.views.dashboard_data import dashboard_world


@pytest.fixture
def world():
    """The dashboard tests' data (``dashboard_world``); a module with a world of its own defines its own."""
    return dashboard_world()


@pytest.fixture
def alice_client(client, world):
    client.force_login(world[0])
    return client
