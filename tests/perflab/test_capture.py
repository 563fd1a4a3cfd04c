"""The N+1 detector catches a .get() in a loop, a lazy foreign key per row, and update_or_create per row."""

import pytest
from django.db import connection

from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.metrics.models import AIUsageDaily, PullRequest, TeamMember
from apps.perflab.capture import capture_queries, fingerprint
from apps.perflab.testing import QueryBudgetExceeded, QueryCountGrows, assert_constant_queries, assert_max_queries
from apps.teams.factories import TeamFactory


class TestFingerprint:
    def test_parameters_and_literals_are_normalised(self):
        a = fingerprint("SELECT * FROM t WHERE id = %s AND name = 'x' LIMIT 21")
        b = fingerprint("SELECT * FROM t WHERE id = %s AND name = 'it''s' LIMIT 1")
        assert a == b == "SELECT * FROM t WHERE id = ? AND name = ? LIMIT ?"

    def test_in_lists_of_any_length_group_together(self):
        assert fingerprint("SELECT 1 FROM t WHERE id IN (%s, %s)") == fingerprint("SELECT 1 FROM t WHERE id IN (%s)")
        assert fingerprint("SELECT 1 FROM t WHERE id IN (1, 2, 3)").endswith("IN (...)")

    def test_row_valued_in_lists_of_any_length_group_together(self):
        one = fingerprint('SELECT 1 FROM t WHERE ("a", "b") IN ((%s, %s))')
        three = fingerprint('SELECT 1 FROM t WHERE ("a", "b") IN ((%s, %s), (%s, %s), (%s,%s))')
        assert one == three == 'SELECT ? FROM t WHERE ("a", "b") IN (...)'

    def test_multi_row_values_group_together(self):
        one = fingerprint('INSERT INTO "t" ("a", "b") VALUES (%s, %s)')
        three = fingerprint('INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s), (%s, %s)')
        assert one == three

    def test_identifiers_with_digits_are_kept(self):
        fp = fingerprint('SELECT "T3"."col1" FROM "table2" U0 WHERE "U0"."x" = 5')
        assert '"T3"."col1"' in fp and '"table2"' in fp and "= ?" in fp

    def test_savepoint_names_are_normalised(self):
        assert fingerprint('SAVEPOINT "s140_x1"') == fingerprint('SAVEPOINT "s999_x12"')

    def test_different_shapes_stay_apart(self):
        assert fingerprint("SELECT a FROM t WHERE id = %s") != fingerprint("SELECT b FROM t WHERE id = %s")


@pytest.mark.django_db
class TestDetector:
    def test_get_in_a_loop_is_flagged_with_its_count_and_call_site(self):
        members = TeamMemberFactory.create_batch(6)
        with capture_queries() as capture:
            for member in members:
                TeamMember.objects.get(pk=member.pk)
        (group,) = capture.repeated()
        assert group.count == 6
        assert "test_capture.py" in group.call_site and "in test_get_in_a_loop" in group.call_site
        assert capture.has_n_plus_one

    def test_lazy_foreign_key_per_row_is_flagged(self):
        team = TeamFactory()
        PullRequestFactory.create_batch(5, team=team)
        with capture_queries() as capture:
            names = [pr.author.display_name for pr in PullRequest.objects.filter(team=team)]
        assert len(names) == 5
        assert capture.count == 6
        (group,) = capture.repeated()
        assert group.count == 5 and "metrics_teammember" in group.fingerprint

    def test_the_same_done_in_one_query_is_clean(self):
        team = TeamFactory()
        PullRequestFactory.create_batch(5, team=team)
        with capture_queries() as capture:
            [pr.author.display_name for pr in PullRequest.objects.filter(team=team).select_related("author")]
        assert capture.count == 1
        assert not capture.has_n_plus_one
        assert capture.verdict() == "no repeated statements"

    def test_update_or_create_per_row_is_flagged(self):
        members = TeamMemberFactory.create_batch(4)
        import datetime as dt

        with capture_queries() as capture:
            for member in members:
                AIUsageDaily.objects.update_or_create(
                    team=member.team, member=member, date=dt.date(2026, 3, 2), source="copilot",
                    defaults={"suggestions_shown": 10},
                )
        counts = {g.fingerprint.split()[0]: g.count for g in capture.repeated()}
        assert counts.get("SELECT") == 4 and counts.get("INSERT") == 4

    def test_no_cap_at_9000_statements(self):
        with capture_queries(call_sites=False) as capture:
            with connection.cursor() as cursor:
                for i in range(9500):
                    cursor.execute("SELECT %s", [i])
        assert capture.count == 9500
        assert capture.groups()[0].count == 9500

    def test_report_and_html(self):
        members = TeamMemberFactory.create_batch(3)
        with capture_queries() as capture:
            for member in members:
                TeamMember.objects.get(pk=member.pk)
        text = capture.report()
        assert text.splitlines()[0].startswith("3 statements, ")
        assert "x3" in text and "test_capture.py" in text
        assert "<table>" in capture._repr_html_() and "N+1 suspected" in capture._repr_html_()
        assert "3 statements" in repr(capture)


@pytest.mark.django_db
class TestAssertions:
    def test_assert_max_queries_passes_within_budget(self):
        with assert_max_queries(1) as capture:
            list(TeamMember.objects.all())
        assert capture.count == 1

    def test_assert_max_queries_prints_every_statement(self):
        members = TeamMemberFactory.create_batch(3)
        with pytest.raises(QueryBudgetExceeded) as failure:
            with assert_max_queries(2):
                for member in members:
                    TeamMember.objects.get(pk=member.pk)
        message = str(failure.value)
        assert "expected at most 2 statements, got 3" in message
        assert message.count('FROM "metrics_teammember"') >= 3  # every statement printed
        assert "test_capture.py" in message

    def _team_with(self, size):
        team = TeamFactory()
        PullRequestFactory.create_batch(size, team=team)
        return team

    def test_assert_constant_queries_catches_growth(self):
        def prepare(size):
            team = self._team_with(size)
            return lambda: [pr.author.display_name for pr in PullRequest.objects.filter(team=team)]

        with pytest.raises(QueryCountGrows) as failure:
            assert_constant_queries(prepare, sizes=(2, 5))
        assert "{2: 3, 5: 6}" in str(failure.value)
        assert "--- size 5: 6 statements" in str(failure.value)

    def test_assert_constant_queries_passes_when_constant(self):
        def prepare(size):
            team = self._team_with(size)
            return lambda: [
                pr.author.display_name for pr in PullRequest.objects.filter(team=team).select_related("author")
            ]

        small, large = assert_constant_queries(prepare, sizes=(2, 8))
        assert small.count == large.count == 1

    def test_needs_two_sizes(self):
        with pytest.raises(ValueError):
            assert_constant_queries(lambda size: (lambda: None), sizes=(3,))
