from django.core.management.base import BaseCommand

from apps.perflab.report import NOTEBOOKS_DIR, REPORTS_DIR, build_report


class Command(BaseCommand):
    help = "Execute every notebook and write reports/index.html with one HTML page per notebook."

    def add_arguments(self, parser):
        parser.add_argument("--no-execute", action="store_true", help="export the stored outputs as they are")

    def handle(self, *args, no_execute=False, **options):
        index = build_report(
            notebooks_dir=NOTEBOOKS_DIR,
            out_dir=REPORTS_DIR,
            execute=not no_execute,
            log=self._log,
        )
        self.stdout.write(self.style.SUCCESS(f"report: {index}"))

    def _log(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()  # progress, seen as it happens even when stdout is a pipe (make report | tee)
