"""The PR export service: the pre-fix export's rows, in its order, from ONE statement however many; the CSV
chunks it streams as; the list's pages."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.metrics.services.pr_list_service import (
    EXPORT_HEADER,
    PAGE_SIZE,
    csv_chunks,
    export_rows,
    pull_request_page,
    team_authors,
)
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.testing import assert_constant_queries, assert_num_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db

CREATED = dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC)


def _pr(team, *, hours: float, state="merged", **fields):
    created = CREATED + dt.timedelta(hours=hours)
    merged_at = created + dt.timedelta(hours=26) if state == "merged" else None
    return PullRequestFactory(team=team, state=state, pr_created_at=created, merged_at=merged_at, **fields)


@pytest.fixture
def varied_team():
    """Every state, PRs without an author, two repos, ties on creation time, hostile text."""
    team, other = TeamFactory(slug="acme"), TeamFactory(slug="other")
    ada = TeamMemberFactory(team=team, display_name="Ada Lovelace", github_username="ada")
    eve = TeamMemberFactory(team=team, display_name="=cmd|' /C calc'!A0", github_username="-eve")
    gone = TeamMemberFactory(team=team, display_name="Gone Member", github_username="", is_active=False)
    authors = [ada, eve, gone, None]
    states = ["merged", "open", "closed"]
    for i in range(24):
        _pr(
            team,
            hours=i // 2 * 5,  # pairs share a creation time: the id breaks the tie
            state=states[i % 3],
            author=authors[i % 4],
            github_repo=("acme/api", "acme/web")[i % 2],
            title=['Fix, "quoted" title', "+1 lines", "@mention", "\tindented", "line\r\nbreak", "plain"][i % 6],
            is_ai_assisted=i % 5 == 0,
            additions=i * 7,
            deletions=i,
        )
    _pr(
        team,
        hours=500,
        author=ada,
        github_repo="acme/api",
        github_pr_id=9001,
        title="Newest",
        cycle_time_hours=Decimal("0.00"),
        review_time_hours=None,
    )
    _pr(other, hours=1, author=TeamMemberFactory(team=other))  # never exported with acme's rows
    return team, ada, eve


FILTERS = [
    {},
    {"state": "merged"},
    {"state": "open"},
    {"state": "closed"},
    {"repo": "acme/web"},
    {"repo": "nobody/nothing"},
    {"start": dt.date(2026, 3, 11), "end": dt.date(2026, 3, 11)},
    {"start": dt.date(2026, 3, 12)},
    {"end": dt.date(2026, 3, 10)},
    {"state": "merged", "repo": "acme/api", "start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 31)},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_export_rows_equal_the_baseline(varied_team, filters):
    team, *_ = varied_team
    expected = baselines.pr_export_rows(team, **filters)
    assert list(export_rows(team, **filters)) == expected


@pytest.mark.parametrize("who", ["ada", "eve"])
def test_export_rows_equal_the_baseline_by_author(varied_team, who):
    team, ada, eve = varied_team
    author_id = {"ada": ada, "eve": eve}[who].id
    rows = list(export_rows(team, author_id=author_id))
    assert rows == baselines.pr_export_rows(team, author_id=author_id)
    assert len(rows) > 1


def test_timestamps_with_fractions_of_a_second_equal_the_baseline():
    """The export reads timestamps as PostgreSQL's text, which trims a fraction's zeros; isoformat does not."""
    team = TeamFactory()
    for micro in (0, 1, 120000, 500000, 999999):
        created = dt.datetime(2026, 3, 10, 9, 0, 0, micro, tzinfo=dt.UTC)
        PullRequestFactory(team=team, pr_created_at=created, merged_at=created + dt.timedelta(microseconds=micro))
    PullRequestFactory(team=team, state="open", pr_created_at=CREATED, merged_at=None)
    rows = list(export_rows(team))
    assert rows == baselines.pr_export_rows(team)
    assert {row[6] for row in rows[1:]} >= {"2026-03-10T09:00:00.120000+00:00", "2026-03-10T09:00:00.000001+00:00"}


def test_rows_are_newest_first_with_values_and_neutralised_cells(varied_team):
    team, *_ = varied_team
    header, newest, *rest = list(export_rows(team))
    assert header == EXPORT_HEADER
    assert newest == [
        "acme/api",
        "9001",
        "Newest",
        "Ada Lovelace",
        "ada",
        "merged",
        (CREATED + dt.timedelta(hours=500)).isoformat(),
        (CREATED + dt.timedelta(hours=526)).isoformat(),
        "0.00",
        "",
        "120",
        "30",
        "no",
    ]
    cells = {cell for row in rest for cell in row}
    assert {"'=cmd|' /C calc'!A0", "'-eve", "'+1 lines", "'@mention", "'\tindented"} <= cells
    assert "line\r\nbreak" in cells  # a line break inside a cell is csv.writer's to quote
    no_author = [row for row in rest if row[3] == ""]
    assert len(no_author) == 6 and all(row[4] == "" for row in no_author)
    created = [row[6] for row in rest]
    assert created == sorted(created, reverse=True)


def test_one_statement_for_the_rows_at_any_size():
    def prepare(size):
        team = TeamFactory()
        members = TeamMemberFactory.create_batch(3, team=team)
        for i in range(size):
            _pr(team, hours=i, author=members[i % 3] if i % 7 else None)
        return lambda: sum(1 for _ in export_rows(team))

    small, large = assert_constant_queries(prepare, sizes=(5, 50))
    for capture in (small, large):
        assert capture.count == 1, capture.report()
        (statement,) = capture.queries
        assert "metrics_pullrequest" in statement.sql and "metrics_teammember" in statement.sql  # the join


def test_nothing_runs_until_the_rows_are_read_and_bad_filters_fail_at_once(varied_team):
    team, *_ = varied_team
    with capture_queries() as capture:
        rows = export_rows(team, state="open")
        header = next(rows)
    assert capture.count == 0 and header == EXPORT_HEADER
    with pytest.raises(TypeError):
        export_rows(team, colour="red")


def test_team_authors_are_the_teams_members_by_name(varied_team):
    team, ada, eve = varied_team
    names = [member.display_name for member in team_authors(team)]
    assert names == sorted(names) and len(names) == 3


def test_csv_chunks_hold_lines_per_chunk_lines_and_quote_as_csv():
    rows = [["a", "b,c"], ['say "hi"', ""], ["x", "y"]]
    assert list(csv_chunks(rows, lines_per_chunk=2)) == ['a,"b,c"\r\n"say ""hi""",\r\n', "x,y\r\n"]
    assert list(csv_chunks([], lines_per_chunk=2)) == []


def test_a_page_is_page_size_prs_newest_first_and_past_the_last_page_the_last():
    team = TeamFactory()
    author = TeamMemberFactory(team=team)
    for hours in range(PAGE_SIZE + 3):
        _pr(team, hours=hours, author=author)
    with assert_num_queries(2):  # the count, then the page's rows with their authors
        first = pull_request_page(team)
        assert [pr.author.display_name for pr in first.object_list] == [author.display_name] * PAGE_SIZE
    assert first.paginator.count == PAGE_SIZE + 3
    assert first.object_list[0].pr_created_at > first.object_list[1].pr_created_at
    last = pull_request_page(team, 99, state="merged")
    assert last.number == 2 and len(last.object_list) == 3
