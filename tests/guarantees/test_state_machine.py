"""A Hypothesis state machine over the redemption service: claim, redeem, retry, void, crash.

Invariants after every step: at most one live redemption per unique code, the code's status
agrees with its redemptions, and once the queue is drained (every redemption attributed) the
attributed credit equals the number of live redemptions.
"""

from decimal import Decimal
from unittest import mock

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core import publish as enqueue
from promotions import services as promo_services
from redemptions import services
from redemptions.attribution import credit
from redemptions.canonical import RedeemRequest, VoidRequest
from redemptions.models import Attribution, Redemption
from tests.factories import (
    BrandFactory,
    CampaignFactory,
    OfferFactory,
    PlacementFactory,
    StoreFactory,
    pos_integration,
)


class Redemptions(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        brand = BrandFactory()
        self.store = StoreFactory(brand=brand)
        campaign = CampaignFactory(brand=brand, attribution_model="linear")
        self.placement = PlacementFactory(campaign=campaign)
        self.offer = OfferFactory(campaign=campaign, per_customer_cap=3)
        self.integration, _, _ = pos_integration(brand)
        self.brand = brand
        self.codes: list[str] = []
        self.sales: list[tuple[str, str]] = []
        self.counter = 0

    @rule(customer=st.sampled_from(["ann", "bob", "cy"]))
    def claim(self, customer):
        try:
            result = promo_services.code_claim(
                brand_id=self.brand.id, offer_id=self.offer.id, customer_ref=customer
            )
        except Exception as problem:  # customer_cap_reached is a valid outcome
            assert getattr(problem, "code", "") == "customer_cap_reached"
            return
        if result.code.code not in self.codes:
            self.codes.append(result.code.code)

    @precondition(lambda self: self.codes)
    @rule(data=st.data())
    def redeem(self, data):
        code = data.draw(st.sampled_from(self.codes))
        self.counter += 1
        txn = f"T{self.counter}"
        outcome = services.redemption_record(
            self.integration, RedeemRequest(code, self.store.external_id, txn, Decimal("10"))
        )
        if outcome.accepted:
            self.sales.append((code, txn))

    @precondition(lambda self: self.sales)
    @rule(data=st.data())
    def retry(self, data):
        code, txn = data.draw(st.sampled_from(self.sales))
        before = Redemption.objects.filter(integration=self.integration, transaction_id=txn).get()
        outcome = services.redemption_record(
            self.integration, RedeemRequest(code, self.store.external_id, txn, Decimal("10"))
        )
        assert outcome.accepted and outcome.replayed and outcome.redemption_id == before.id

    @precondition(lambda self: self.sales)
    @rule(data=st.data())
    def void(self, data):
        code, txn = data.draw(st.sampled_from(self.sales))
        services.redemption_void(self.integration, VoidRequest(transaction_id=txn, code=code))

    @precondition(lambda self: self.codes)
    @rule(data=st.data())
    def crash_mid_redeem(self, data):
        """The process dies after the code was taken and the redemption written, before commit.

        (A code that declines first never reaches the writes; then nothing crashes.)
        """
        from django.db import transaction

        code = data.draw(st.sampled_from(self.codes))
        self.counter += 1
        request = RedeemRequest(code, self.store.external_id, f"C{self.counter}", Decimal("10"))
        with mock.patch.object(  # the first step after the writes, before the commit
            enqueue, "publish_coalesced_on_commit", side_effect=RuntimeError("killed")
        ) as insert:
            try:
                with transaction.atomic():
                    outcome = services.redemption_record(self.integration, request)
            except RuntimeError:
                assert insert.called
            else:
                assert not insert.called and not outcome.accepted

    @rule()
    def drain_queue(self):
        credit.redemptions_attribute(
            list(
                Redemption.objects.filter(integration=self.integration).values_list("id", flat=True)
            )
        )
        live = Redemption.objects.filter(integration=self.integration, status="redeemed")
        total = Attribution.objects.filter(redemption__integration=self.integration).aggregate(
            s=Sum("credit")
        )["s"]
        assert (total or Decimal(0)) == live.count()

    @invariant()
    def one_live_redemption_per_code(self):
        if not hasattr(self, "integration"):
            return
        for code in self.codes:
            live = Redemption.objects.filter(code__code=code, status="redeemed").count()
            assert live <= 1
            status = Redemption.objects.model.code.field.related_model.objects.get(code=code).status
            assert status == ("redeemed" if live else "issued")


@pytest.mark.django_db
def test_redemption_state_machine():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        Redemptions,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
