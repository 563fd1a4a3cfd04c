"""``manage.py perf_bench [--quick]``: every performance budget, measured, in one table."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.perflab.bench import run_bench
from apps.perflab.notebook import create_isolated_database, drop_isolated_database
from apps.perflab.report import REPORTS_DIR


class Command(BaseCommand):
    help = (
        "Generate data in an isolated database (tformance_bench) and measure every budgeted path: "
        "statements, latency against the baseline and hand-written SQL. Writes reports/bench.json; "
        "names every missed budget (a time budget that misses is measured again before it counts) and exits "
        "non-zero when a gated one is missed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="5 teams x 50 members (default: 50 x 200, 1M PRs)")
        parser.add_argument(
            "--gate",
            choices=["all", "statements"],
            default="all",
            help="which budgets decide the exit status (CI: statements; times are reported, not gated)",
        )
        parser.add_argument("--output", default=str(REPORTS_DIR / "bench.json"))

    def handle(self, *args, quick=False, gate="all", output="", **options):
        original = create_isolated_database("tformance_bench")
        try:
            report = run_bench(quick=quick, log=lambda line: self.stderr.write(line))
        finally:
            drop_isolated_database(original)
        report.gate = gate
        report.write_json(Path(output))
        self.stdout.write(report.table())
        self.stdout.write(f"\n{report.scale} run in {report.seconds:.0f} s; written to {output}")
        verdict = report.verdict()
        lines = verdict.lines()
        style = self.style.SUCCESS if not verdict.gated and not verdict.reported else self.style.WARNING
        self.stdout.write(style(lines[0]))
        for line in lines[1:]:
            self.stdout.write(line)
        if not verdict.passes:
            self.stdout.flush()  # the table before the error, in a log that holds both streams
            raise CommandError(f"{len(verdict.gated)} gated budget(s) missed (--gate {gate}): "
                               + "; ".join(verdict.gated))
