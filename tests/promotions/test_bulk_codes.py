import csv
import io

import pytest
from django.test import override_settings

from promotions import codes, services
from promotions.models import Code, CodeJob, Offer
from tests.factories import CampaignFactory, OfferFactory, PlacementFactory
from tests.helpers import assert_problem, wait_until


def generate(client, offer, **body):
    return client.post(f"/api/v1/manage/offers/{offer.id}/generate-codes", body, format="json")


@pytest.mark.django_db(transaction=True)  # the job is queued on commit
def test_generate_codes_writes_exactly_n_unique_valid_codes_for_the_placement(
    marketer_client, brand
):
    campaign = CampaignFactory(brand=brand)
    offer = OfferFactory(campaign=campaign, code_prefix="FREE")
    placement = PlacementFactory(campaign=campaign)

    with override_settings(BULK_CODE_CHUNK=700):
        response = generate(marketer_client, offer, count=2500, placement=placement.id)

    assert response.status_code == 202
    job = marketer_client.get(f"/api/v1/manage/jobs/{response.json()['id']}").json()
    assert job["status"] == "done" and job["generated"] == 2500 and job["progress"] == 1.0
    rows = Code.objects.filter(offer=offer)
    assert rows.count() == 2500
    assert rows.filter(placement=placement, kind="unique", status="issued").count() == 2500
    assert all(
        codes.is_valid(c) and c.startswith("FREE") for c in rows.values_list("code", flat=True)
    )
    assert Offer.objects.get(id=offer.id).issued_count == 2500


@pytest.mark.django_db
def test_collisions_are_retried_until_n_new_codes_exist(brand):
    offer = OfferFactory(campaign=CampaignFactory(brand=brand))
    taken = codes.generate_many(3)
    for c in taken:
        Code.objects.create(offer=offer, code=c)
    draws = iter(
        [taken + codes.generate_many(2), codes.generate_many(1) * 2, codes.generate_many(5)]
    )

    def colliding_generator(count, prefix, length):
        return next(draws)[:count]

    job = CodeJob.objects.create(brand=brand, offer=offer, requested=5)
    with override_settings(BULK_CODE_CHUNK=5):
        job = services.code_job_run(job.id, generate=colliding_generator)

    assert job.status == "done" and job.generated == 5
    assert job.collisions == 3 + 1 + 0
    assert Code.objects.filter(offer=offer).count() == 3 + 5


@pytest.mark.django_db
def test_rerunning_a_finished_or_half_done_job_never_overshoots(brand):
    offer = OfferFactory(campaign=CampaignFactory(brand=brand))
    job = CodeJob.objects.create(brand=brand, offer=offer, requested=300)
    with override_settings(BULK_CODE_CHUNK=100):
        calls = {"n": 0}

        def crash_after_one_chunk(count, prefix, length):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("worker died")
            return codes.generate_many(count)

        with pytest.raises(RuntimeError):
            services.code_job_run(job.id, generate=crash_after_one_chunk)
        assert Code.objects.count() == 100
        CodeJob.objects.filter(id=job.id).update(status="running")  # as a redelivery finds it

        services.code_job_run(job.id)
        services.code_job_run(job.id)

    assert Code.objects.count() == 300
    assert CodeJob.objects.get(id=job.id).generated == 300


@pytest.mark.django_db(transaction=True)
def test_generation_beyond_the_cap_is_refused_and_reserves_nothing(marketer_client, brand):
    offer = OfferFactory(campaign=CampaignFactory(brand=brand), total_cap=100)

    assert_problem(generate(marketer_client, offer, count=101), 422, "cap_reached")
    assert generate(marketer_client, offer, count=100).status_code == 202
    assert_problem(generate(marketer_client, offer, count=1), 422, "cap_reached")
    assert Code.objects.count() == 100 and CodeJob.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [{"count": 0}, {"count": "many"}, {}, {"count": 5, "placement": 999999}]
)
def test_generate_rejects_bad_requests(marketer_client, brand, body):
    offer = OfferFactory(campaign=CampaignFactory(brand=brand))

    assert_problem(generate(marketer_client, offer, **body), 400, "validation_error")
    assert CodeJob.objects.count() == 0 and Offer.objects.get(id=offer.id).issued_count == 0


@pytest.mark.django_db(transaction=True)
def test_codes_export_streams_every_code_as_csv(marketer_client, brand):
    offer = OfferFactory(campaign=CampaignFactory(brand=brand))
    placement = PlacementFactory(campaign=offer.campaign, name="=cmd|' /C calc'!A0")
    generate(marketer_client, offer, count=2345, placement=placement.id)

    response = marketer_client.get(f"/api/v1/manage/offers/{offer.id}/codes.csv")

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2345
    assert {r["code"] for r in rows} == set(Code.objects.values_list("code", flat=True))
    assert rows[0]["display_code"].replace("-", "") == rows[0]["code"]
    assert rows[0]["placement_id"] == str(placement.id)  # the name beside the id, defused
    assert rows[0]["placement_name"] == "'" + placement.name


@pytest.mark.broker
def test_generation_runs_on_a_real_worker_with_progress(celery_worker, marketer_client, brand):
    offer = OfferFactory(campaign=CampaignFactory(brand=brand))

    response = generate(marketer_client, offer, count=20_000)

    assert response.status_code == 202 and response.json()["status"] == "queued"
    job_url = f"/api/v1/manage/jobs/{response.json()['id']}"
    done = wait_until(lambda: marketer_client.get(job_url).json()["status"] == "done", timeout=60)
    assert done, celery_worker.log.read_text()[-2000:]
    assert Code.objects.filter(offer=offer).count() == 20_000
