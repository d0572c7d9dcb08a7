"""`seed_demo` gives the demo brand a history a marketer can read at a glance: made by the
product's own services, attributed and rolled up before the command returns, repeatable."""

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum

from promotions.models import Campaign, Placement
from redemptions import reports
from redemptions.models import Attribution, Redemption, RedemptionAttempt


def seed(capsys, *args) -> dict:
    call_command("seed_demo", "--json", *args)
    return json.loads(capsys.readouterr().out)


@pytest.mark.django_db
def test_the_history_tells_the_story_of_the_launch(capsys):
    seeded = seed(capsys, "--days", "21")
    campaign = Campaign.objects.get(id=seeded["campaign_id"])
    by_placement = reports.campaign_report(campaign, "placement")
    by_day = reports.campaign_report(campaign, "day")
    names = dict(Placement.objects.values_list("id", "name"))

    totals = by_placement["totals"]
    assert totals["impressions"] > totals["clicks"] > totals["claims"] > 0
    assert totals["redemptions"] > 0 and totals["voids"] > 0
    cost = {
        names[row["placement"]]: Decimal(row["cost_per_redemption"])
        for row in by_placement["rows"]
        if row["placement"] is not None
    }
    stories = cost.pop("Stories - spring launch")
    assert all(stories * 2 < other for other in cost.values())  # one placement clearly better
    days = [row["redemptions"] for row in by_day["rows"]]
    assert len(days) >= 14
    assert sum(days[:7]) > sum(days[7:14])  # the launch week's spike
    declined = set(
        RedemptionAttempt.objects.filter(accepted=False).values_list("decline_code", flat=True)
    )
    assert {"unknown_code", "min_basket_not_met"} <= declined
    assert seeded["history"]["redemptions"] == Redemption.objects.filter(status="redeemed").count()


@pytest.mark.django_db
def test_the_history_is_attributed_and_rolled_up_before_the_command_returns(capsys):
    seed(capsys, "--days", "5")
    live = Redemption.objects.filter(status=Redemption.Status.REDEEMED)
    credits = Attribution.objects.values("redemption").annotate(total=Sum("credit"))

    assert live.exists()
    assert {row["redemption"] for row in credits} == set(live.values_list("id", flat=True))
    assert all(row["total"] == Decimal(1) for row in credits)
    campaign = Campaign.objects.get()
    report = reports.campaign_report(campaign, "placement")["totals"]
    assert report["redemptions"] == live.count()


@pytest.mark.django_db(transaction=True)
def test_the_same_seed_tells_the_same_story(capsys):
    first = seed(capsys, "--days", "2", "--seed", "7")["history"]
    call_command("flush", interactive=False, verbosity=0)
    second = seed(capsys, "--days", "2", "--seed", "7")["history"]
    call_command("flush", interactive=False, verbosity=0)
    other = seed(capsys, "--days", "2", "--seed", "8")["history"]

    assert first == second and first["redemptions"] > 0
    assert other != first
