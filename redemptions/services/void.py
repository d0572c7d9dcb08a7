"""Voiding a redemption: once, within the void window; the code becomes redeemable again."""

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Q
from django.utils import timezone

from core import publish
from promotions import codes
from promotions.models import Code
from redemptions.canonical import Outcome, VoidRequest
from redemptions.models import PosIntegration, Redemption, RedemptionAttempt
from redemptions.rollups import slices_mark
from redemptions.services.attempts import attempt_record, outcome_declined, outcome_from_redemption
from redemptions.services.context import Decline, PosContext


def redemption_void(integration: PosIntegration, request: VoidRequest) -> Outcome:
    """Void a redemption once, within the void window; its code becomes redeemable again."""
    from redemptions.tasks import unattribute_redemption  # the tasks call back into services

    now = timezone.now()
    ctx = PosContext(integration)
    try:
        with transaction.atomic():
            target = _void_target(integration, request)
            if target is None:
                raise Decline("redemption_not_found", "No such redemption.")
            ctx.code, ctx.store, ctx.normalised = target.code, target.store, target.code.code
            voided = Redemption.objects.filter(
                id=target.id,
                status=Redemption.Status.REDEEMED,
                redeemed_at__gt=now - settings.VOID_WINDOW,
            ).update(
                status=Redemption.Status.VOIDED,
                voided_at=now,
                void_reason=request.reason[:200],
            )
            if not voided:
                target.refresh_from_db(fields=["status"])
                if target.status == Redemption.Status.VOIDED:
                    raise Decline("already_voided", "This redemption was already voided.")
                raise Decline("void_window_passed", "Too late to void this redemption.")
            slices_mark([(target.campaign_id, target.redeemed_at)])
            if target.unique_code:
                Code.objects.filter(id=target.code_id, status=Code.Status.REDEEMED).update(
                    status=Code.Status.ISSUED, use_count=0, redeemed_at=None
                )
            else:
                Code.objects.filter(id=target.code_id, use_count__gt=0).update(
                    use_count=F("use_count") - 1
                )
            target.status, target.voided_at = Redemption.Status.VOIDED, now
            outcome = outcome_from_redemption(target, replayed=False)
            publish.publish_on_commit(unattribute_redemption, target.id)
    except Decline as decline:
        outcome = outcome_declined(ctx, decline)
    attempt_record(ctx, RedemptionAttempt.Action.VOID, outcome, request.transaction_id or "")
    return outcome


def _void_target(integration: PosIntegration, request: VoidRequest) -> Redemption | None:
    """The redemption to void: only one this integration made, at a store it may still use.
    Another till's sale, even of the same brand, is not found (a void gives the discount back:
    the till that gave it is the one to take it back)."""
    qs = Redemption.objects.select_related("offer", "code", "store").filter(
        brand_id=integration.brand_id, integration_id=integration.id
    )
    allowed = PosIntegration.stores.through.objects.filter(posintegration_id=integration.id)
    qs = qs.filter(~Exists(allowed) | Q(store_id__in=allowed.values("store_id")))  # no list: all
    if request.redemption_id is not None:
        return qs.filter(id=request.redemption_id).first()
    if request.transaction_id:
        qs = qs.filter(transaction_id=request.transaction_id)
        if request.code:
            qs = qs.filter(code__code=codes.normalise(request.code))
        return qs.order_by("-redeemed_at").first()
    return None
