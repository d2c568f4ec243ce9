from django.core.management.base import BaseCommand

from api.idempotency import idempotency_records_purge


class Command(BaseCommand):
    help = (
        "Delete the Idempotency-Key records older than 24 hours, in small batches. The task workers "
        "do this every few minutes (PERIODIC_CHORES); this is for a deployment without them."
    )

    def handle(self, *args, **options):
        deleted = idempotency_records_purge()
        self.stdout.write(f"{deleted} expired Idempotency-Key record(s) deleted.")
