import datetime as dt
from decimal import Decimal

import pytest

from apps.integrations.copilot_records import MalformedCopilotRecord, parse_user_day

RECORD = {
    "user_login": "Octocat",
    "day": "2026-03-02",
    "code_generation_activity_count": 40,
    "code_acceptance_activity_count": 10,
    "loc_suggested_to_add_sum": 120,
    "loc_added_sum": 30,
    "user_initiated_interaction_count": 4,
    "totals_by_ide": [{"ide": "vscode"}],  # breakdowns are ignored
}


def test_a_record_maps_to_ai_usage_fields():
    user_day = parse_user_day(RECORD)
    assert user_day.login == "Octocat" and user_day.day == dt.date(2026, 3, 2)
    assert user_day.usage_fields() == {
        "suggestions_shown": 40,
        "suggestions_accepted": 10,
        "lines_suggested": 120,
        "lines_accepted": 30,
        "chat_interactions": 4,
        "acceptance_rate": Decimal("25.00"),
    }


def test_missing_counts_are_zero_and_rate_is_null_without_suggestions():
    user_day = parse_user_day({"user_login": "a", "day": "2026-03-02"})
    assert user_day.suggestions_shown == 0 and user_day.acceptance_rate is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_login": ""}, "user_login"),
        ({"user_login": 5}, "user_login"),
        ({"day": "March 2"}, "day"),
        ({"code_generation_activity_count": -1}, "code_generation_activity_count"),
        ({"loc_added_sum": "12"}, "loc_added_sum"),
        ({"loc_added_sum": True}, "loc_added_sum"),
    ],
)
def test_malformed_records_name_the_field_and_source(change, message):
    with pytest.raises(MalformedCopilotRecord, match=message) as failure:
        parse_user_day({**RECORD, **change}, source="https://example.test/r.ndjson line 3")
    assert "line 3" in str(failure.value)


def test_a_non_object_is_refused():
    with pytest.raises(MalformedCopilotRecord, match="JSON object"):
        parse_user_day(["not", "a", "dict"])
