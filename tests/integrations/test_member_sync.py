"""import_members: GitHub id first, login second; bots flagged; leavers inactive; constant statements; one bump."""

import pytest
from django.db import transaction

from apps.integrations import member_sync
from apps.integrations.github_records import GitHubUser
from apps.integrations.member_sync import import_members
from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.metrics.models import TeamMember
from apps.metrics.services.team_cache import team_data_version
from apps.perflab.capture import capture_queries
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db


def user(login, database_id, name="", *, bot=False):
    return GitHubUser(login=login, database_id=database_id, name=name, is_bot=bot)


def members_of(team):
    """The team's members as comparable tuples, by id."""
    return list(
        TeamMember.objects.filter(team=team)
        .order_by("id")
        .values_list("id", "display_name", "github_username", "github_id", "is_active", "is_bot")
    )


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """The service as a task runs it: the on-commit cache bump done at the end."""

    def run(team, users):
        with django_capture_on_commit_callbacks(execute=True):
            return import_members(team=team, users=users)

    return run


def test_new_members_are_created_active_with_their_github_identity_and_bots_flagged(run):
    team = TeamFactory()
    counts = run(
        team,
        [
            user("octocat", 583231, "The Octocat"),
            user("hubot", 7, ""),  # no name: the login stands in
            user("dependabot[bot]", 49699333),  # a login ending in [bot]
            user("ci-robot", 99, "CI", bot=True),  # GraphQL said Bot
        ],
    )
    assert counts == {"users": 4, "created": 4, "updated": 0, "deactivated": 0, "unchanged": 0, "bots": 2}
    rows = {row[2]: row[1:] for row in members_of(team)}
    assert rows == {
        "octocat": ("The Octocat", "octocat", "583231", True, False),
        "hubot": ("hubot", "hubot", "7", True, False),
        "dependabot[bot]": ("dependabot[bot]", "dependabot[bot]", "49699333", True, True),
        "ci-robot": ("CI", "ci-robot", "99", True, True),
    }
    octocat = TeamMember.objects.get(team=team, github_username="octocat")
    assert octocat.avatar_url == "https://avatars.githubusercontent.com/u/583231?v=4"  # GitHub's own avatar URL
    assert octocat.role == "developer" and octocat.email == ""


def test_the_github_id_wins_over_the_login_a_rename_keeps_the_member(run):
    team = TeamFactory()
    member = TeamMemberFactory(team=team, display_name="octo", github_username="octo", github_id="583231")
    named = TeamMemberFactory(team=team, display_name="Mona Lisa", github_username="mona", github_id="1")
    counts = run(team, [user("octocat", 583231, "The Octocat"), user("Mona-Renamed", 1, "Mona GitHub")])
    assert counts["created"] == 0 and counts["updated"] == 2
    member.refresh_from_db()
    named.refresh_from_db()
    # a display name that was only the login takes GitHub's name; one set in tformance stays
    assert (member.github_username, member.display_name) == ("octocat", "The Octocat")
    assert (named.github_username, named.display_name) == ("Mona-Renamed", "Mona Lisa")


def test_a_member_created_by_hand_with_only_a_login_is_matched_case_insensitively_and_gets_its_id(run):
    team = TeamFactory()
    by_hand = TeamMemberFactory(team=team, display_name="Octo Cat", github_username="OctoCat", github_id="")
    PullRequestFactory(team=team, author=by_hand)
    counts = run(team, [user("octocat", 583231, "The Octocat")])
    assert counts["created"] == 0 and counts["updated"] == 1
    by_hand.refresh_from_db()
    assert (by_hand.github_id, by_hand.github_username, by_hand.display_name) == ("583231", "octocat", "Octo Cat")
    assert TeamMember.objects.filter(team=team).count() == 1
    assert by_hand.pull_requests.count() == 1


def test_a_login_given_to_another_account_moves_to_that_account(run):
    team = TeamFactory()
    old = TeamMemberFactory(team=team, display_name="Old Alice", github_username="alice", github_id="10")
    counts = run(team, [user("Alice", 20, "New Alice")])  # GitHub gave "alice" to account 20; 10 left
    assert counts == {"users": 1, "created": 1, "updated": 0, "deactivated": 1, "unchanged": 0, "bots": 0}
    old.refresh_from_db()
    assert (old.github_username, old.github_id, old.is_active, old.display_name) == ("", "10", False, "Old Alice")
    new = TeamMember.objects.get(team=team, github_id="20")
    assert (new.github_username, new.display_name, new.is_active) == ("Alice", "New Alice", True)


def test_two_members_swapping_logins_in_one_import(run):
    team = TeamFactory()
    a = TeamMemberFactory(team=team, display_name="A", github_username="first", github_id="1")
    b = TeamMemberFactory(team=team, display_name="B", github_username="second", github_id="2")
    with capture_queries() as capture:
        run(team, [user("second", 1), user("FIRST", 2)])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.github_username, b.github_username) == ("second", "FIRST")
    # the logins that move are emptied first, then the upsert writes them: no unique conflict in between
    assert [q.sql.split()[0] for q in capture.queries] == ["SELECT", "UPDATE", "INSERT"], capture.statements()


def test_leavers_become_inactive_never_deleted_and_come_back_active(run):
    team = TeamFactory()
    stays = TeamMemberFactory(team=team, github_username="stays", github_id="1")
    leaves = TeamMemberFactory(team=team, github_username="leaves", github_id="2")
    login_only = TeamMemberFactory(team=team, github_username="contractor", github_id="")
    no_identity = TeamMemberFactory(team=team, github_username="", github_id="")  # nobody can tell: left alone
    PullRequestFactory(team=team, author=leaves)

    counts = run(team, [user("stays", 1)])
    assert counts == {"users": 1, "created": 0, "updated": 0, "deactivated": 2, "unchanged": 2, "bots": 0}
    active = dict(TeamMember.objects.filter(team=team).values_list("id", "is_active"))
    assert active == {stays.id: True, leaves.id: False, login_only.id: False, no_identity.id: True}
    assert leaves.pull_requests.count() == 1

    counts = run(team, [user("stays", 1), user("leaves", 2)])
    assert counts["updated"] == 1 and counts["deactivated"] == 0
    leaves.refresh_from_db()
    assert leaves.is_active


def test_a_member_of_another_team_is_never_touched(run):
    other = TeamMemberFactory(github_username="octocat", github_id="583231", display_name="Elsewhere")
    team = TeamFactory()
    run(team, [user("octocat", 583231, "The Octocat")])
    other.refresh_from_db()
    assert (other.display_name, other.is_active, other.team_id != team.id) == ("Elsewhere", True, True)
    assert TeamMember.objects.filter(github_id="583231").count() == 2


def test_a_person_listed_twice_is_one_member(run):
    team = TeamFactory()
    counts = run(team, [user("octocat", 583231, "Old"), user("octocat", 583231, "The Octocat")])
    assert counts["users"] == 1 and counts["created"] == 1
    assert TeamMember.objects.get(team=team).display_name == "The Octocat"


def test_importing_the_same_list_again_reads_once_writes_nothing_and_keeps_the_cache(run):
    team = TeamFactory()
    users = [user(f"dev-{n}", 100 + n, f"Dev {n}") for n in range(20)] + [user("renovate[bot]", 5)]
    run(team, users)
    version, before = team_data_version(team.id), members_of(team)
    with capture_queries() as capture:
        counts = run(team, users)
    assert capture.count == 1 and capture.queries[0].sql.startswith("SELECT"), capture.statements()
    assert counts == {"users": 21, "created": 0, "updated": 0, "deactivated": 0, "unchanged": 21, "bots": 1}
    assert members_of(team) == before
    assert team_data_version(team.id) == version


def test_a_change_bumps_the_team_cache_version_once_on_commit(django_capture_on_commit_callbacks):
    team = TeamFactory()
    TeamMemberFactory(team=team, github_username="leaves", github_id="2")
    version = team_data_version(team.id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        import_members(team=team, users=[user("new", 1), user("newer", 3)])
    assert team_data_version(team.id) == version  # nothing before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert team_data_version(team.id) == version + 1


def test_one_transaction_a_failure_writes_nothing(monkeypatch):
    team = TeamFactory()
    TeamMemberFactory(team=team, github_username="renamed-soon", github_id="1")
    before = members_of(team)

    def fail(*args, **kwargs):
        raise RuntimeError("the insert failed")

    monkeypatch.setattr(member_sync, "insert_members", fail)
    with pytest.raises(RuntimeError), transaction.atomic():
        import_members(team=team, users=[user("renamed", 1), user("new", 2)])
    assert members_of(team) == before


# --- statements -----------------------------------------------------------------------------


def test_the_same_four_statements_at_10_and_500_members(run):
    """Every kind of change at both sizes: renames (a login release), leavers, newcomers, bots."""
    results = {}

    def prepare(size):
        team = TeamFactory()
        existing = [
            TeamMemberFactory(team=team, github_username=f"m{size}-{n}", github_id=str(n)) for n in range(size)
        ]
        TeamMemberFactory(team=team, github_username=f"by-hand-{size}", github_id="")
        users = [user(f"m{size}-{n}", n) for n in range(size - size // 5)]  # a fifth have left
        users[0] = user(f"renamed-{size}", 0)  # a rename: its old login is released first
        users.append(user(f"BY-HAND-{size}", 10_000))  # the login-only member gets its id
        users += [user(f"new-{size}-{n}", 20_000 + n) for n in range(size // 10)]
        users.append(user(f"bot-{size}[bot]", 30_000))
        assert len(existing) == size

        def operation():
            results[size] = run(team, users)

        return operation

    captures = assert_constant_queries(prepare, sizes=(10, 500))
    assert captures[0].count == 4, captures[0].statements()
    assert [q.sql.split()[0] for q in captures[1].queries] == ["SELECT", "UPDATE", "INSERT", "INSERT"]
    assert not captures[1].has_n_plus_one, captures[1].report()
    assert results[500] == {
        "users": 400 + 1 + 50 + 1,
        "created": 51,
        "updated": 2,  # the rename and the login-only member
        "deactivated": 100,
        "unchanged": 500 + 1 - 102,
        "bots": 1,
    }


def test_creating_a_member_another_transaction_created_first_returns_that_member():
    """The upsert's target is the partial (team, github_id) index: a race ends in the existing row, not an error."""
    team = TeamFactory()
    first = TeamMemberFactory(team=team, github_username="octocat", github_id="583231")
    created = member_sync.insert_members(team, [user("octocat", 583231)], active=False)
    assert created == {("id", "583231"): first.id}
    assert TeamMember.objects.filter(team=team).count() == 1


def test_a_machine_user_flagged_by_hand_stays_a_bot(run):
    team = TeamFactory()
    machine = TeamMemberFactory(team=team, github_username="deploy-user", github_id="8", is_bot=True)
    run(team, [user("deploy-user", 8, "Deploys")])  # a plain User on GitHub
    machine.refresh_from_db()
    assert machine.is_bot and machine.is_active
