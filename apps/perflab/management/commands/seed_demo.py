"""Seed realistic demo data and a login that sees it: ``manage.py seed_demo``."""

import secrets
from datetime import UTC, date, datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.perflab.datagen import DatasetSpec, SeedResult, SlugCollisionError, generate
from apps.teams.models import Membership, Team

DEFAULT_SPEC = DatasetSpec(end_date=date(2000, 1, 1))  # only its sizes serve as defaults


class Command(BaseCommand):
    help = (
        "Generate deterministic, realistic teams, members, PRs, reviews, commits, surveys and"
        " Copilot usage (bulk COPY, one transaction), plus a staff superuser who is a member of"
        " every generated team."
    )

    def add_arguments(self, parser):
        parser.add_argument("--teams", type=int, default=DEFAULT_SPEC.teams)
        parser.add_argument("--members", type=int, default=DEFAULT_SPEC.members_per_team,
                            help="members per team")
        parser.add_argument("--prs-per-member", type=int, default=DEFAULT_SPEC.prs_per_member)
        parser.add_argument("--days", type=int, default=DEFAULT_SPEC.days,
                            help="length of the history in days")
        parser.add_argument("--seed", type=int, default=DEFAULT_SPEC.seed)
        parser.add_argument("--end-date", help="last day of the history, YYYY-MM-DD (default: today, UTC)")
        parser.add_argument("--prefix", default=DEFAULT_SPEC.team_slug_prefix,
                            help="team slugs are <prefix>-1, <prefix>-2, ...")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
        parser.add_argument("--user", default="demo", help="login to create or reuse")
        parser.add_argument("--password", help="its password (default: a generated one)")
        parser.add_argument(
            "--skip-existing",
            action="store_true",
            help="when every team of the spec exists already, keep its data and only (re)grant the login",
        )

    def handle(self, *args, **options):
        spec = self._spec(options)
        password = options["password"] or secrets.token_urlsafe(12)
        if options["skip_existing"] and self._keep_existing(spec, options["user"], password):
            return
        try:
            with transaction.atomic():
                result = generate(spec, progress=not options["no_progress"])
                self._grant_access(options["user"], password, result.team_ids)
        except SlugCollisionError as error:
            raise CommandError(str(error)) from error
        self._report(result, options["user"], password)

    def _spec(self, options) -> DatasetSpec:
        try:
            return DatasetSpec(
                teams=options["teams"],
                members_per_team=options["members"],
                prs_per_member=options["prs_per_member"],
                days=options["days"],
                seed=options["seed"],
                end_date=_parse_end_date(options["end_date"]),
                team_slug_prefix=options["prefix"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error

    def _keep_existing(self, spec: DatasetSpec, username: str, password: str) -> bool:
        """True when all the spec's teams exist: their data is kept and the login re-granted."""
        existing = list(Team.objects.filter(slug__in=spec.team_slugs).values_list("id", flat=True))
        if len(existing) != len(spec.team_slugs):
            return False
        with transaction.atomic():
            self._grant_access(username, password, existing)
        self.stdout.write(f"Kept the existing data of {len(existing)} team(s) ({', '.join(spec.team_slugs[:3])}...)")
        self.stdout.write(self.style.SUCCESS(f"Open http://127.0.0.1:8000/ and log in as {username} / {password}"))
        return True

    def _grant_access(self, username: str, password: str, team_ids) -> None:
        """A staff superuser (so the admin works too) with a membership of every new team."""
        user, _created = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        Membership.objects.bulk_create(
            [Membership(user=user, team_id=team_id, role=Membership.Role.ADMIN) for team_id in team_ids],
            ignore_conflicts=True,
        )

    def _report(self, result: SeedResult, username: str, password: str) -> None:
        slugs = result.team_slugs
        shown = ", ".join(slugs) if len(slugs) <= 3 else f"{slugs[0]} .. {slugs[-1]}"
        as_of = result.spec.as_of
        self.stdout.write(f"Seeded {len(slugs)} team(s) ({shown}), {result.spec.start_date}"
                          f" to {result.spec.end_date} as of {as_of:%Y-%m-%d %H:%M:%S} UTC:")
        width = max(len(name) for name in result.row_counts)
        for name, count in result.row_counts.items():
            self.stdout.write(f"  {name:<{width}}  {count:>12,}")
        self.stdout.write(f"  {'total':<{width}}  {result.total_rows:>12,}")
        self.stdout.write(f"in {result.seconds:.1f} s")
        self.stdout.write(self.style.SUCCESS(
            f"Open http://127.0.0.1:8000/ and log in as {username} / {password}"
        ))


def _parse_end_date(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--end-date must be YYYY-MM-DD, not {value!r}") from None

