"""PRListFilterForm: the PR list's filters, checked with params.py's rules, the author among the team's members."""

import datetime as dt

import pytest
from django.http import QueryDict

from apps.metrics.factories import TeamMemberFactory
from apps.metrics.pr_list_forms import PRFilters, PRListFilterForm
from apps.metrics.views.params import DateRange, today_utc
from apps.perflab.testing import assert_constant_queries, assert_max_queries, assert_num_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db


def _form(team, **params) -> PRListFilterForm:
    data = QueryDict(mutable=True)
    for name, value in params.items():
        data.setlist(name, value if isinstance(value, list) else [str(value)])
    return PRListFilterForm(data, team=team)


@pytest.fixture
def teams():
    platform, secret = TeamFactory(slug="platform"), TeamFactory(slug="secret")
    bob = TeamMemberFactory(team=platform, display_name="Bob")
    ada = TeamMemberFactory(team=platform, display_name="Ada")
    old = TeamMemberFactory(team=platform, display_name="Cy", is_active=False)
    spy = TeamMemberFactory(team=secret, display_name="Spy")
    return {"platform": platform, "secret": secret, "ada": ada, "bob": bob, "old": old, "spy": spy}


def test_no_parameters_mean_the_last_30_days_created_everything(teams):
    form = _form(teams["platform"])
    assert form.is_valid(), form.errors
    today = today_utc()
    assert form.filters == PRFilters(range=DateRange(today - dt.timedelta(days=29), today))
    assert form.filters.dates == "created"


def test_every_filter_checked_and_applied(teams):
    ada = teams["ada"]
    form = _form(
        teams["platform"],
        dates="merged",
        start="2026-03-01",
        end="2026-03-31",
        state="open",
        author=ada.id,
        repo=" acme/api ",
    )
    assert form.is_valid(), form.errors
    assert form.filters == PRFilters(
        range=DateRange(dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
        state="open",
        author_id=ada.id,
        repo="acme/api",
        dates="merged",
    )
    assert form.cleaned_data["author"] == ada
    assert (
        form.filters.as_query()
        == f"dates=merged&start=2026-03-01&end=2026-03-31&state=open&author={ada.id}&repo=acme%2Fapi"
    )


def test_an_author_of_another_team_is_refused_with_a_clear_message(teams):
    spy = teams["spy"]
    form = _form(teams["platform"], author=spy.id)
    assert not form.is_valid()
    assert form.errors == {"author": [f"author {spy.id} is not a member of this team"]}
    assert "Spy" not in str(form["author"])  # nor is the other team's member offered


def test_the_author_select_lists_exactly_the_team_s_members_by_name(teams):
    form = _form(teams["platform"], author=teams["bob"].id)
    choices = [(str(value), label) for value, label in form.fields["author"].choices]
    assert choices == [
        ("", "Everyone"),
        (str(teams["ada"].id), "Ada"),
        (str(teams["bob"].id), "Bob"),
        (str(teams["old"].id), "Cy (inactive)"),
    ]
    html = str(form["author"])
    assert f'<option value="{teams["bob"].id}" selected>Bob</option>' in html
    assert html.count("<option") == 4


def test_the_members_are_read_once_for_the_select_and_the_check(teams):
    form = _form(teams["platform"], author=teams["ada"].id)
    with assert_num_queries(1):
        assert form.is_valid()
        str(form["author"])
        list(form.fields["author"].choices)
    with assert_max_queries(0):  # no author sent and no select rendered (the export): no member is read
        assert _form(teams["platform"], state="merged").is_valid()


def test_validating_and_rendering_cost_one_statement_at_5_and_50_members():
    def prepare(size):
        team = TeamFactory()
        members = TeamMemberFactory.create_batch(size, team=team)

        def validate_and_render():
            form = _form(team, author=members[-1].id)
            assert form.is_valid()
            assert str(form["author"]).count("<option") == size + 1

        return validate_and_render

    small, _large = assert_constant_queries(prepare, sizes=(5, 50))
    assert small.count == 1, small.report()


@pytest.mark.parametrize("name", ["dates", "start", "end", "state", "author", "repo"])
def test_a_filter_given_twice_is_refused_with_that_one_reason(teams, name):
    values = {"author": [str(teams["ada"].id), str(teams["spy"].id)], "start": ["2026-03-01", "2026-03-02"]}
    form = _form(teams["platform"], **{name: values.get(name, ["merged", "open"])})
    assert not form.is_valid()
    assert form.errors == {name: [f"{name} is given 2 times; give it once"]}


BAD_VALUES = [
    ({"dates": "closed"}, "dates", "dates must be one of created, merged, not 'closed'"),
    ({"state": "draft"}, "state", "state must be one of open, merged, closed, not 'draft'"),
    ({"state": "MERGED"}, "state", "state must be one of open, merged, closed, not 'MERGED'"),
    ({"author": "ada"}, "author", "author must be a positive whole number, not 'ada'"),
    ({"author": "-3"}, "author", "author must be a positive whole number, not '-3'"),
    ({"author": "0"}, "author", "author must be a positive whole number, not 0"),
    ({"author": "９"}, "author", "author must be a positive whole number, not '９'"),
    ({"author": "99999999999999999999"}, "author", "author must be at most 9223372036854775807"),
    ({"author": "999999999"}, "author", "author 999999999 is not a member of this team"),
    ({"repo": "acme/\x01web"}, "repo", "repo must not contain control characters, not 'acme/\\x01web'"),
    ({"repo": "x" * 201}, "repo", "repo is at most 200 characters, not 201"),
    ({"start": "yesterday"}, "start", "start must be a date as YYYY-MM-DD, not 'yesterday'"),
    ({"start": "03/01/2026"}, "start", "start must be a date as YYYY-MM-DD, not '03/01/2026'"),
    ({"end": "2026-02-30"}, "end", "end must be a date as YYYY-MM-DD, not '2026-02-30'"),
    ({"end": "0001-01-01"}, "end", "end must be between 1970-01-01 and 2999-12-31, not 0001-01-01"),
    ({"start": "9999-12-31"}, "start", "start must be between 1970-01-01 and 2999-12-31, not 9999-12-31"),
    ({"end": "1970-01-10"}, "end", "end must be 29 days after 1970-01-01 when start is not given"),
    ({"start": "2026-03-10", "end": "2026-03-01"}, None, "end (2026-03-01) is before start (2026-03-10)"),
    ({"start": "2020-01-01", "end": "2026-01-01"}, None, "the range is 2193 days; at most 731 (two years) are allowed"),
]


@pytest.mark.parametrize(("params", "field", "message"), BAD_VALUES, ids=[m for _, _, m in BAD_VALUES])
def test_each_bad_value_gives_its_message_on_its_field(teams, params, field, message):
    form = _form(teams["platform"], **params)
    assert not form.is_valid()
    assert form.errors == {field or "__all__": [message]}


def test_every_bad_field_is_named_at_once(teams):
    form = _form(teams["platform"], state="draft", author="ada", repo="a\x01", dates="x", start="nope")
    assert not form.is_valid()
    assert set(form.errors) == {"state", "author", "repo", "dates", "start"}


def test_the_fields_show_what_was_sent_and_once_applied_the_filters(teams):
    sent = _form(teams["platform"], start="2026-03-10", end="2026-03-01", repo=" acme/web ", state="open")
    assert not sent.is_valid()
    assert 'value="2026-03-10"' in str(sent["start"]) and 'value=" acme/web "' in str(sent["repo"])
    assert '<option value="open" selected>' in str(sent["state"])

    applied = _form(teams["platform"], end="2026-03-31", repo=" acme/web ")
    assert applied.is_valid()
    applied.show_applied()
    assert 'value="2026-03-02"' in str(applied["start"])  # the default start, 30 days ending at end
    assert 'value="acme/web"' in str(applied["repo"])
    assert '<option value="created" selected>' in str(applied["dates"])


def test_filters_of_an_invalid_form_are_refused(teams):
    form = _form(teams["platform"], state="draft")
    with pytest.raises(ValueError, match="not valid"):
        form.filters  # noqa: B018 - the property raises
