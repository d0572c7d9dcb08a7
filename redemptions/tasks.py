"""Celery tasks: thin, idempotent, retried only on transient database errors."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from core.publish import publish
from redemptions import rollups, services
from redemptions.attribution import credit

TRANSIENT = (OperationalError, InterfaceError)
# Longest countdown: 2**5 = 32 s backoff, far below the broker's visibility timeout (1 h).
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 32, "max_retries": 5}


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def attribute_redemption(redemption_id: int) -> int:
    written, left_over = credit.redemption_attribute_with_backlog(redemption_id)
    if left_over:  # a backlog longer than one run: the next run starts now, not at a next commit
        publish(attribute_redemption, 0)  # 0: no redemption of its own, only the backlog
    return written


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def unattribute_redemption(redemption_id: int) -> int:
    """A void: recomputing a voided redemption removes its credits."""
    return credit.redemptions_attribute([redemption_id])


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def campaign_reattribute(campaign_id: int) -> int:
    return credit.campaign_reattribute(campaign_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def attribution_sweep() -> int:
    return credit.attribution_sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True, **RETRY)
def rollups_refresh() -> int:
    return rollups.rollups_refresh()


@shared_task(acks_late=True, **RETRY)
def idempotency_keys_purge() -> int:
    return services.idempotency_keys_purge()
