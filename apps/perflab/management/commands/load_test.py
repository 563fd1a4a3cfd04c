"""``manage.py load_test [--quick] [--redis-hung]``: gunicorn on loopback under 1, 4 and 16 clients, in one table."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.perflab.load import FULL, QUICK, default_output, format_table, load_database, run_load


class Command(BaseCommand):
    help = (
        "Seed a team in an isolated database (tformance_load), start gunicorn on 127.0.0.1 with the production "
        "settings, log in, and drive the dashboard, a chart, the PR list and the export with 1, 4 and 16 clients. "
        "Writes reports/load.json (--redis-hung: reports/load-redis-hung.json) and exits non-zero when a budget "
        "is missed (0 errors, warm dashboard p99 < 1 s at 16 clients, connections <= workers x pool maximum)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="10 members, 1 and 2 clients, 1 s per level")
        parser.add_argument("--redis-hung", action="store_true", help="the server's own Redis SIGSTOPped meanwhile")
        parser.add_argument("--seconds", type=float, help="per endpoint and level (default: 10, --quick 1)")
        parser.add_argument("--levels", help="comma-separated client counts (default: 1,4,16; --quick 1,2)")
        parser.add_argument("--workers", type=int, help="gunicorn workers (default: the number of CPUs)")
        parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default: 4)")
        parser.add_argument("--database", default="tformance_load", help="the isolated database (dropped after)")
        parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
        parser.add_argument("--output", help="default: reports/load.json or reports/load-redis-hung.json")

    def handle(self, *args, **options):
        levels = tuple(int(n) for n in options["levels"].split(",")) if options["levels"] else None
        with load_database(options["database"], keep=options["keep"]):
            report = run_load(
                scale=QUICK if options["quick"] else FULL,
                redis_hung=options["redis_hung"],
                workers=options["workers"],
                threads=options["threads"],
                seconds=options["seconds"],
                levels=levels,
                log=lambda line: self.stderr.write(line),
            )
        output = Path(options["output"] or default_output(options["redis_hung"]))
        report.write_json(output)
        self.stdout.write(format_table(report.to_dict()))
        self.stdout.write(f"\n{report.mode} {report.scale} run in {report.seconds:.0f} s; written to {output}")
        for line in report.verdict_lines():
            self.stdout.write(line)
        if not report.holds:
            self.stdout.flush()
            missed = [budget.name for budget in report.budgets if budget.gated and not budget.holds]
            raise CommandError("load budget(s) missed: " + "; ".join(missed))
