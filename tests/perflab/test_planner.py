"""planner_settings: switched for the block, restored after it, even when the block fails."""

import pytest

from apps.perflab.planner import POSTGRES_DEFAULTS, current_setting, planner_settings


@pytest.mark.django_db
def test_the_block_plans_with_postgres_defaults_and_the_shipped_settings_return():
    shipped = {name: current_setting(name) for name in POSTGRES_DEFAULTS}
    assert shipped == {"random_page_cost": "1.1", "max_parallel_workers_per_gather": "0"}
    with planner_settings(**POSTGRES_DEFAULTS):
        assert {name: current_setting(name) for name in POSTGRES_DEFAULTS} == POSTGRES_DEFAULTS
    assert {name: current_setting(name) for name in POSTGRES_DEFAULTS} == shipped


@pytest.mark.django_db
def test_settings_are_restored_when_the_block_raises():
    with pytest.raises(ZeroDivisionError), planner_settings(random_page_cost="7"):
        assert current_setting("random_page_cost") == "7"
        1 / 0  # noqa: B018
    assert current_setting("random_page_cost") == "1.1"
