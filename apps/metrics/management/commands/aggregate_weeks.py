"""Rebuild or catch up the weekly per-member metrics: ``manage.py aggregate_weeks``.

``--from`` and ``--to`` take dates (YYYY-MM-DD); any day means its week (Monday to Sunday, UTC). With
``--from`` the range is rebuilt for every chosen team; without it each team catches up from its
watermark (``Team.weekly_metrics_through``; a team without one from its first activity), uncapped. The
watermark only ever moves forward, over weeks that continue it without a gap.
"""

import datetime as dt
import itertools
import time

from django.core.management.base import BaseCommand, CommandError

from apps.metrics.services.aggregation_service import WeekWritten, aggregate_team_weeks, last_complete_week
from apps.metrics.services.dates import monday_of
from apps.teams.models import Team


class Command(BaseCommand):
    help = (
        "Aggregate teams' weekly metrics: rebuild --from..--to (any day means its week), or without --from"
        " catch each team up from its watermark to --to (default: the last complete week)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--team",
            dest="teams",
            action="extend",
            nargs="+",
            metavar="SLUG",
            default=[],
            help="the team(s) to aggregate (default: every team)",
        )
        parser.add_argument(
            "--from",
            dest="since",
            metavar="YYYY-MM-DD",
            help="first week to rebuild (default: the week after each team's watermark)",
        )
        parser.add_argument(
            "--to",
            dest="through",
            metavar="YYYY-MM-DD",
            help="last week to aggregate (default: the last complete week)",
        )

    def handle(self, *args, **options):
        since = _parse_date("--from", options["since"])
        through = _parse_date("--to", options["through"])
        last_complete = last_complete_week()
        if since and through and since > through:
            raise CommandError(f"--from {since} is after --to {through}")
        if through and monday_of(through) > last_complete:
            raise CommandError(
                f"--to {through}: that week has not ended yet; the last complete week is that of {last_complete}"
            )
        if since and monday_of(since) > last_complete:
            raise CommandError(
                f"--from {since}: that week has not ended yet; the last complete week is that of {last_complete}"
            )
        teams = self._teams(options["teams"])
        started = time.perf_counter()
        weeks = rows = 0
        for number, team in enumerate(teams, 1):
            self.stdout.write(f"[{number}/{len(teams)}] {team.slug} (aggregated through {team.weekly_metrics_through})")
            team_started = time.perf_counter()
            counted = itertools.count(1)

            def report(week: WeekWritten, team_started=team_started, counted=counted) -> None:
                self.stdout.write(
                    f"  week {next(counted)}: {week.week_start}  {week.rows} rows  {week.seconds:.3f} s"
                    f"  ({time.perf_counter() - team_started:.1f} s elapsed)"
                )

            try:
                result = aggregate_team_weeks(team, through=through, since=since, max_weeks=None, on_week=report)
            except Exception as error:
                raise CommandError(
                    f"{team.slug}: {error!r}; the weeks before it are kept (aggregated through"
                    f" {team.weekly_metrics_through})"
                ) from error
            weeks, rows = weeks + len(result.weeks), rows + result.rows
            self.stdout.write(
                f"  {team.slug}: {len(result.weeks)} week(s), {result.rows} rows in {result.seconds:.1f} s;"
                f" aggregated through {result.through}"
            )
        self.stdout.write(self.style.SUCCESS(
            f"{len(teams)} team(s), {weeks} week(s), {rows} rows in {time.perf_counter() - started:.1f} s"
        ))  # fmt: skip

    def _teams(self, slugs: list[str]) -> list[Team]:
        teams = Team.objects.order_by("slug")
        if not slugs:
            found = list(teams)
            if not found:
                raise CommandError("there are no teams")
            return found
        found = list(teams.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {team.slug for team in found})
        if unknown:
            raise CommandError(f"unknown team(s): {', '.join(unknown)}")
        return found


def _parse_date(option: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date, YYYY-MM-DD, not {value!r}") from None
