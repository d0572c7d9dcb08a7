"""Bulk codes: a job reserves capacity under the offer's cap, then streams codes into PostgreSQL
with COPY in chunks, never holding them all in memory and never writing a duplicate."""

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.errors import DomainError
from promotions import codes
from promotions.models import (
    Code,
    CodeJob,
    Offer,
    Placement,
)


def code_job_create(*, offer: Offer, count: int, placement: Placement | None) -> CodeJob:
    """Reserve ``count`` codes of the offer's cap and queue the job that writes them."""
    from core.publish import publish_on_commit
    from promotions.tasks import code_job_run_task

    if count < 1 or count > settings.BULK_CODE_MAX:
        raise DomainError("validation_error", f"count must be 1..{settings.BULK_CODE_MAX}.")
    if placement is not None and placement.campaign_id != offer.campaign_id:
        raise DomainError("validation_error", "The placement belongs to another campaign.")
    with transaction.atomic():
        reserved = (
            Offer.objects.filter(id=offer.id)
            .filter(Q(total_cap__isnull=True) | Q(issued_count__lte=F("total_cap") - count))
            .update(issued_count=F("issued_count") + count)
        )
        if not reserved:
            raise DomainError("cap_reached", "Not enough capacity left under the offer's cap.")
        job = CodeJob.objects.create(
            brand_id=offer.campaign.brand_id, offer=offer, placement=placement, requested=count
        )
        publish_on_commit(code_job_run_task, job.id)
    return job


def code_job_run(job_id: int, *, generate=codes.generate_many) -> CodeJob:
    """Write the job's codes in chunks, each chunk committed with its progress.

    Safe to run again after a crash: it resumes from ``generated``, never overshoots
    ``requested`` (a check constraint backs that), and duplicates are impossible because
    ``code`` is unique; a colliding chunk is retried through ``ON CONFLICT DO NOTHING``.
    """
    updated = CodeJob.objects.filter(
        id=job_id, status__in=[CodeJob.Status.QUEUED, CodeJob.Status.RUNNING]
    ).update(status=CodeJob.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now())
    job = CodeJob.objects.select_related("offer").get(id=job_id)
    if not updated:
        return job
    offer = job.offer
    chunk = settings.BULK_CODE_CHUNK
    try:
        while job.generated < job.requested:
            batch = generate(
                min(chunk, job.requested - job.generated), offer.code_prefix, offer.code_length
            )
            with transaction.atomic():
                inserted = codes_insert(offer.id, job.placement_id, batch)
                # Compare-and-set on progress: if another runner (a redelivered message) wrote
                # a chunk meanwhile, this chunk rolls back instead of overshooting.
                advanced = CodeJob.objects.filter(id=job.id, generated=job.generated).update(
                    generated=F("generated") + inserted,
                    collisions=F("collisions") + len(batch) - inserted,
                    heartbeat_at=timezone.now(),
                )
                if not advanced:
                    transaction.set_rollback(True)
            job.refresh_from_db(fields=["generated", "collisions"])
    except Exception as exc:
        CodeJob.objects.filter(id=job.id).update(
            status=CodeJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    CodeJob.objects.filter(id=job.id).update(status=CodeJob.Status.DONE, finished_at=timezone.now())
    job.refresh_from_db()
    return job


_CODE_COLUMNS = (
    "offer_id, code, kind, placement_id, click_id, customer_ref, status, use_count, issued_at"
)


def codes_insert(offer_id: int, placement_id: int | None, batch: list[str]) -> int:
    """Insert ``batch`` as unique codes; return how many were new (duplicates are skipped)."""
    if connection.vendor != "postgresql":
        before = Code.objects.filter(offer_id=offer_id).count()
        Code.objects.bulk_create(
            [Code(offer_id=offer_id, code=c, placement_id=placement_id) for c in batch],
            ignore_conflicts=True,
            batch_size=2000,
        )
        return Code.objects.filter(offer_id=offer_id).count() - before
    now = timezone.now().isoformat()
    placement = r"\N" if placement_id is None else str(placement_id)
    rows = "".join(
        f"{offer_id}\t{c}\tunique\t{placement}\t\t\tissued\t0\t{now}\n" for c in batch
    ).encode()
    table = Code._meta.db_table
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no COPY
        try:
            # The fast path: COPY straight into the table. With 60 random bits a collision is
            # rare enough that retrying the chunk the slow way costs nothing on average.
            with transaction.atomic(), raw.copy(f"COPY {table} ({_CODE_COLUMNS}) FROM STDIN") as cp:
                cp.write(rows)
            return len(batch)
        except psycopg.errors.UniqueViolation:
            pass
        with transaction.atomic():
            raw.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS code_stage ON COMMIT DELETE ROWS AS "
                f"SELECT {_CODE_COLUMNS} FROM {table} WITH NO DATA"
            )
            raw.execute("TRUNCATE code_stage")
            with raw.copy(f"COPY code_stage ({_CODE_COLUMNS}) FROM STDIN") as cp:
                cp.write(rows)
            raw.execute(
                f"INSERT INTO {table} ({_CODE_COLUMNS}) SELECT DISTINCT ON (code) {_CODE_COLUMNS} "
                f"FROM code_stage ON CONFLICT (code) DO NOTHING"
            )
            return raw.rowcount
