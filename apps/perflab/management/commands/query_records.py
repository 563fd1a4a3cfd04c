"""``manage.py query_records [--update]``: every view's statement fingerprints against tests/query_records/."""

from django.core.management.base import BaseCommand, CommandError

from apps.perflab.records import (
    RECORDS_DIR,
    committed_files,
    differences,
    failure_message,
    generate_in_isolated_database,
    write_files,
)


class Command(BaseCommand):
    help = (
        "Record every view's statements (fingerprints, in order, cold and warm, at two team sizes) in an isolated "
        "database (tformance_records) and compare them with the committed files in tests/query_records/; "
        "--update writes the files instead (after a deliberate change)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--update", action="store_true", help="write tests/query_records/ from this run")
        parser.add_argument("--database", default="tformance_records", help="the isolated database (dropped after)")

    def handle(self, *args, update=False, database="tformance_records", **options):
        files = generate_in_isolated_database(database)
        if update:
            changed = write_files(files)
            summary = ", ".join(changed) if changed else "none changed"
            self.stdout.write(f"{len(files)} files in {RECORDS_DIR}: {summary}")
            return
        diffs = differences(committed_files(), files)
        if diffs:
            self.stdout.write(failure_message(diffs))
            self.stdout.flush()
            raise CommandError(f"{len(diffs)} query record(s) differ")
        self.stdout.write(self.style.SUCCESS(f"{len(files)} query records match {RECORDS_DIR}"))
