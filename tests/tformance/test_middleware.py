"""Every response says where its time went: Server-Timing header and one log line."""

import logging
import re

import pytest

from apps.metrics.factories import TeamMemberFactory
from apps.teams.factories import MembershipFactory

pytestmark = pytest.mark.django_db

HEADER = re.compile(r'^db;dur=(\d+\.\d);desc="(\d+) statements", total;dur=(\d+\.\d)$')


def test_server_timing_header_and_log_line(client, caplog):
    membership = MembershipFactory()
    TeamMemberFactory.create_batch(3, team=membership.team)
    client.force_login(membership.user)
    with caplog.at_level(logging.INFO, logger="tformance.requests"):
        response = client.get("/")
    assert response.status_code == 200
    db_ms, statements, total_ms = HEADER.match(response["Server-Timing"]).groups()
    assert int(statements) >= 2  # the session, the user, the teams
    assert float(total_ms) >= float(db_ms)
    (record,) = [r for r in caplog.records if r.name == "tformance.requests"]
    assert record.getMessage().startswith("GET / 200 total=")
    assert f"statements={statements}" in record.getMessage()


def test_anonymous_redirect_is_timed_too(client):
    response = client.get("/")
    assert response.status_code == 302
    assert HEADER.match(response["Server-Timing"]).group(2) == "0"
