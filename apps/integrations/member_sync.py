"""Organisation members into ``TeamMember``, in a fixed number of statements whatever the size.

``import_members(team=..., users=...)`` takes the organisation's members as the GitHub client
lists them (``GitHubUser`` records) and, in one transaction:

1. reads the team's members: **one** ``SELECT`` (every column: the upsert below rewrites rows whole);
2. matches each user to a member, **by GitHub id first**, then **by login, case-insensitively**,
   the login only to a member without a GitHub id (one created by hand with just a login: it gets
   its id filled) or when GitHub gave no id. A login held by a member with *another* id is not that
   person: GitHub gave the login to a new account, and the old member lets go of it;
3. when logins move (a rename, or a login handed to another account), **one** ``UPDATE`` first
   empties the logins that change, so that no row of the upsert meets a login another row is
   about to leave (unique indexes are checked row by row within a statement);
4. **one** ``INSERT ... ON CONFLICT (id) DO UPDATE`` of the existing members that change: login,
   id, ``is_bot`` (set when GitHub says bot; one flagged by hand stays flagged), ``is_active=True``
   (someone back in the organisation is active again), and the display name only where it is
   missing or just the old login (names set in tformance stay);
   members with a GitHub identity who are no longer in the organisation become **inactive**,
   never deleted (their PRs and surveys stay theirs). Members without any GitHub identity are
   left alone: nothing here can say whether they are still there;
5. **one** ``INSERT`` of the new members (``insert_members``), active, bots flagged ``is_bot``.

Only rows that change are written: a second import of the same list runs the ``SELECT`` alone and
does not bump the team's cache version. When anything changed the version is bumped once, on commit.
Inside a caller's transaction no savepoint is opened (as in the Copilot sync): a failure is the
caller's failure too.

``resolve_people`` is the PR sync's side of the same rules: it finds the members of the authors,
reviewers and committers of a page in one ``SELECT`` and creates the missing ones (inactive:
outside contributors and bots) in one upsert.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from apps.integrations.github_records import GitHubUser
from apps.metrics.models import TeamMember
from apps.metrics.services.team_cache import bump_team_data_version

PersonKey = tuple[str, str]  # ("id", "583231") or ("login", "octocat")
MEMBER_FIELDS = ["display_name", "github_username", "github_id", "is_active", "is_bot"]


def person_key(user: GitHubUser) -> PersonKey:
    """Who a record means: GitHub's numeric id when it has one, else the lower-cased login."""
    if user.database_id is not None:
        return ("id", str(user.database_id))
    return ("login", user.login.lower())


def dedupe_people(users: Iterable[GitHubUser | None]) -> list[GitHubUser]:
    """One record per person (ghosts, ``None``, dropped); the last record of a person wins."""
    people: dict[PersonKey, GitHubUser] = {}
    for user in users:
        if user is not None:
            people[person_key(user)] = user
    return list(people.values())


# --- the organisation's members --------------------------------------------------------------


def import_members(*, team, users: Iterable[GitHubUser]) -> dict[str, int]:
    """Upsert the team's members from the organisation's list; returns what changed.

    Counts: ``users`` (distinct people listed), ``created``, ``updated`` (existing members changed,
    reactivated ones included), ``deactivated``, ``unchanged``, ``bots`` (listed users that are bots).
    At most 4 statements (``SELECT``, login release, upsert, insert), whatever the number of members.
    """
    people = dedupe_people(users)
    with transaction.atomic(savepoint=False):
        members = list(TeamMember.objects.filter(team=team).order_by("id"))
        plan = _MemberPlan(members, people)
        if plan.released:
            TeamMember.objects.filter(pk__in=plan.released).update(github_username="")
        if plan.changed:
            TeamMember.objects.bulk_create(
                plan.changed, update_conflicts=True, unique_fields=["id"], update_fields=MEMBER_FIELDS
            )
        if plan.new:
            insert_members(team, plan.new, active=True)
        if plan.changed or plan.new:
            bump_team_data_version(team.id)
    return {
        "users": len(people),
        "created": len(plan.new),
        "updated": len(plan.changed) - plan.deactivated,
        "deactivated": plan.deactivated,
        "unchanged": len(members) - len(plan.changed),
        "bots": sum(user.looks_like_bot for user in people),
    }


class _MemberPlan:
    """What ``import_members`` writes: ``changed`` rows (final state), ``released`` ids, ``new`` users."""

    def __init__(self, members: list[TeamMember], people: list[GitHubUser]):
        matched = _match(members, people)  # member pk -> user
        matched_keys = {person_key(user) for user in matched.values()}
        self.new = [user for user in people if person_key(user) not in matched_keys]
        handed_out = {user.login.lower() for user in people}
        self.changed: list[TeamMember] = []
        self.released: list[int] = []
        self.deactivated = 0
        for member in members:
            before = _state(member)
            user = matched.get(member.pk)
            if user is not None:
                _apply(member, user)
            elif member.github_id or member.github_username:  # had a GitHub identity: no longer in the organisation
                if member.github_username.lower() in handed_out:
                    member.github_username = ""  # GitHub gave this login to another account
                if member.is_active:
                    member.is_active = False
                    self.deactivated += 1
            if _state(member) == before:
                continue
            self.changed.append(member)
            old_login = before[1].lower()
            if old_login and old_login != member.github_username.lower():
                self.released.append(member.pk)


def _match(members: list[TeamMember], people: list[GitHubUser]) -> dict[int, GitHubUser]:
    """Member pk -> user: by GitHub id first (all of them), then by login where that is safe."""
    by_id = {member.github_id: member for member in members if member.github_id}
    by_login = {member.github_username.lower(): member for member in members if member.github_username}
    matched: dict[int, GitHubUser] = {}
    unmatched = []
    for user in people:
        member = by_id.get(str(user.database_id)) if user.database_id is not None else None
        if member is None:
            unmatched.append(user)
        else:
            matched[member.pk] = user
    for user in unmatched:
        holder = by_login.get(user.login.lower())
        if holder is not None and holder.pk not in matched and (not holder.github_id or user.database_id is None):
            matched[holder.pk] = user
    return matched


def _apply(member: TeamMember, user: GitHubUser) -> None:
    if not member.display_name or member.display_name == member.github_username:
        member.display_name = user.name or user.login
    if user.database_id is not None:
        member.github_id = str(user.database_id)
    member.github_username = user.login
    member.is_active = True
    member.is_bot = member.is_bot or user.looks_like_bot  # a machine user flagged in tformance stays flagged


def _state(member: TeamMember) -> tuple:
    return (member.display_name, member.github_username, member.github_id, member.is_active, member.is_bot)


# --- the people of a PR page ------------------------------------------------------------------


def resolve_people(team, users: Iterable[GitHubUser | None]) -> tuple[dict[PersonKey, int], int]:
    """Member id of every person, by ``person_key``; people not yet members become (inactive) members.

    One ``SELECT`` (GitHub ids and lower-cased logins at once, each on its partial unique index),
    and one upsert when someone is new. Returns the ids and how many members were created.
    """
    people = dedupe_people(users)
    if not people:
        return {}, 0
    ids = [str(user.database_id) for user in people if user.database_id is not None]
    logins = [user.login.lower() for user in people]
    found = (
        TeamMember.objects.filter(team=team)
        .annotate(login=Lower("github_username"))
        # the non-empty conditions match the two partial unique indexes' predicates, so that a big team's
        # lookup can probe them (a small one reads its members through the team_id index)
        .filter((Q(github_id__in=ids) & ~Q(github_id="")) | (Q(login__in=logins) & ~Q(github_username="")))
        .order_by()
        .values_list("id", "github_id", "login")
    )
    by_id, by_login = {}, {}
    for member_id, github_id, login in found:
        if github_id:
            by_id[github_id] = member_id
        if login:
            by_login[login] = (member_id, github_id)
    members: dict[PersonKey, int] = {}
    missing = []
    for user in people:
        member_id = by_id.get(str(user.database_id)) if user.database_id is not None else None
        if member_id is None:
            holder_id, holder_github_id = by_login.get(user.login.lower(), (None, ""))
            if holder_id is not None and (not holder_github_id or user.database_id is None):
                member_id = holder_id
        if member_id is None:
            missing.append(user)
        else:
            members[person_key(user)] = member_id
    if missing:
        members.update(insert_members(team, missing, active=False, taken_logins=set(by_login)))
    return members, len(missing)


# --- creating members -------------------------------------------------------------------------

_TABLE = TeamMember._meta.db_table
# Django's bulk_create cannot name a partial unique index as its ON CONFLICT target (PostgreSQL infers one only
# from its predicate), so this one upsert is written out: the target is (team, github_id) WHERE github_id <> '',
# and DO UPDATE (a no-op) makes RETURNING give the id of a row another transaction created first.
_INSERT_MEMBERS = f"""
INSERT INTO "{_TABLE}" (team_id, display_name, email, github_username, github_id, is_active, role, is_bot, created_at)
SELECT %s, person.display_name, '', person.github_username, person.github_id, %s, %s, person.is_bot, now()
FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::boolean[])
    AS person(display_name, github_username, github_id, is_bot)
ON CONFLICT (team_id, github_id) WHERE NOT (github_id = '') DO UPDATE SET github_id = EXCLUDED.github_id
RETURNING id, github_id, lower(github_username)
"""


def insert_members(
    team, users: list[GitHubUser], *, active: bool, taken_logins: set[str] = frozenset()
) -> dict[PersonKey, int]:
    """Create a member per user (distinct people, none a member yet) in one statement; their ids by ``person_key``.

    A login in ``taken_logins`` (lower case) belongs to a member with another GitHub id: the new
    member is created without it (named after it when GitHub gives no name) until
    ``import_members`` moves it.
    """
    logins = ["" if user.login.lower() in taken_logins else user.login for user in users]
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_MEMBERS,
            [
                team.id,
                active,
                TeamMember.Role.DEVELOPER,
                [(user.name or user.login)[:200] for user in users],
                logins,
                ["" if user.database_id is None else str(user.database_id) for user in users],
                [user.looks_like_bot for user in users],
            ],
        )
        rows = cursor.fetchall()
    by_id = {github_id: member_id for member_id, github_id, _ in rows if github_id}
    by_login = {login: member_id for member_id, github_id, login in rows if not github_id and login}
    created = {}
    for user in users:
        key = person_key(user)
        member_id = by_id.get(key[1]) if key[0] == "id" else by_login.get(key[1])
        if member_id is not None:
            created[key] = member_id
    return created
