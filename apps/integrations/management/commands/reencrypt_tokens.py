"""``manage.py reencrypt_tokens``: every encrypted value under the first key (``apps.integrations.key_rotation``)."""

from django.core.management.base import BaseCommand, CommandError

from apps.integrations.key_rotation import BATCH_SIZE, find_unreadable, reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token and secret with the first key (FIELD_ENCRYPTION_KEYS, else SECRET_KEY), "
        "after a rotation. Refuses to run while some value no configured key can read, unless --skip-unreadable."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--skip-unreadable",
            action="store_true",
            help="Re-encrypt what can be read and leave the unreadable values as they are (listed).",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="Rows per statement.")

    def handle(self, *args, skip_unreadable: bool, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        unreadable = find_unreadable(batch_size=batch_size)
        listing = "\n".join(f"  {value.table} id {value.pk}: {value.field}" for value in unreadable)
        if unreadable and not skip_unreadable:
            raise CommandError(
                f"{len(unreadable)} stored value(s) cannot be decrypted by any configured key:\n{listing}\n"
                "Put the key they were encrypted with back into FIELD_ENCRYPTION_KEYS (or SECRET_KEY_FALLBACKS), "
                "or run again with --skip-unreadable and have them entered again. Nothing was written."
            )
        if unreadable:
            self.stderr.write(f"Left as they are, unreadable with every configured key:\n{listing}")
        for result in reencrypt(batch_size=batch_size):
            self.stdout.write(
                f"{result.table}: {result.rows} rows read, {result.rows_reencrypted} re-encrypted "
                f"({result.values_reencrypted} values), {len(result.unreadable)} unreadable"
            )
