from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from promotions import services
from promotions.models import CodeJob


@shared_task(acks_late=True, reject_on_worker_lost=True)
def code_job_run_task(job_id: int) -> None:
    services.code_job_run(job_id)


@shared_task
def code_jobs_resume() -> int:
    """Re-queue jobs whose message was lost (broker down at publish, worker killed)."""
    from core.publish import publish

    stale = timezone.now() - timedelta(minutes=5)
    job_ids = list(
        CodeJob.objects.filter(
            Q(status=CodeJob.Status.QUEUED, created_at__lt=stale)
            | Q(status=CodeJob.Status.RUNNING, heartbeat_at__lt=stale)
        ).values_list("id", flat=True)
    )
    for job_id in job_ids:
        publish(code_job_run_task, job_id)
    return len(job_ids)
