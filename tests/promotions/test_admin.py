import pytest
from django.test import Client

from promotions.models import Membership
from tests.factories import CampaignFactory, OfferFactory, StoreFactory, marketer

pytestmark = pytest.mark.django_db


def logged_in(brand, role=Membership.Role.ADMIN):
    user, _ = marketer(brand, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_marketer_sees_only_their_brands_rows(brand, other_brand):
    mine = CampaignFactory(brand=brand, name="Mine")
    theirs = CampaignFactory(brand=other_brand, name="Theirs")
    client = logged_in(brand)

    listing = client.get("/admin/promotions/campaign/")

    assert listing.status_code == 200
    assert b"Mine" in listing.content and b"Theirs" not in listing.content
    assert client.get(f"/admin/promotions/campaign/{mine.id}/change/").status_code == 200
    assert (
        client.get(f"/admin/promotions/campaign/{theirs.id}/change/").status_code == 302
    )  # "doesn't exist"


def test_pickers_offer_only_the_marketers_own_objects(brand, other_brand):
    CampaignFactory(brand=brand, name="Own campaign")
    CampaignFactory(brand=other_brand, name="Foreign campaign")
    StoreFactory(brand=other_brand, name="Foreign store")
    client = logged_in(brand)

    page = client.get("/admin/promotions/offer/add/")

    assert b"Own campaign" in page.content
    assert b"Foreign campaign" not in page.content and b"Foreign store" not in page.content


def test_offer_page_shows_a_qr_preview(brand):
    offer = OfferFactory(campaign=CampaignFactory(brand=brand), title="Free latte")
    client = logged_in(brand)

    page = client.get(f"/admin/promotions/offer/{offer.id}/change/")

    assert page.status_code == 200
    assert b"data:image/png;base64," in page.content and b"Free latte" in page.content


def test_analyst_can_view_but_not_change(brand):
    campaign = CampaignFactory(brand=brand, name="Read me")
    client = logged_in(brand, role=Membership.Role.ANALYST)

    assert b"Read me" in client.get("/admin/promotions/campaign/").content
    response = client.post(
        f"/admin/promotions/campaign/{campaign.id}/change/",
        {
            "name": "Changed",
            "brand": brand.id,
            "starts_at_0": "2026-01-01",
            "starts_at_1": "00:00:00",
            "attribution_model": "last_touch",
            "click_window_days": 7,
            "view_window_hours": 24,
        },
    )
    campaign.refresh_from_db()
    assert response.status_code == 403 and campaign.name == "Read me"


def test_store_import_keeps_good_rows_and_reports_bad_ones(brand, other_brand):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from promotions.models import Store

    StoreFactory(brand=brand, external_id="S-1", name="Old name")
    client = logged_in(brand)
    csv_text = (
        "name,external_id,address,latitude,longitude,timezone\n"
        "Main Street,S-1,1 Main St,40.1,-70.2,America/New_York\n"
        "Harbour,S-2,2 Dock Rd,40.2,-70.3,America/New_York\n"
        "Broken,S-3,,north,-70,UTC\n"
        ",S-4,,,,UTC\n"
        "Far away,S-5,,95,10,UTC\n"
    )

    page = client.post(
        "/admin/promotions/store/import/",
        {
            "brand": brand.id,
            "file": SimpleUploadedFile("stores.csv", csv_text.encode(), "text/csv"),
        },
    )
    foreign = client.post(
        "/admin/promotions/store/import/",
        {
            "brand": other_brand.id,
            "file": SimpleUploadedFile("s.csv", b"name,external_id\nX,X-1\n", "text/csv"),
        },
    )

    assert page.status_code == 200
    errors = page.context["errors"]
    assert [e.split(":")[0] for e in errors] == ["line 4", "line 5", "line 6"]
    assert dict(Store.objects.filter(brand=brand).values_list("external_id", "name")) == {
        "S-1": "Main Street",
        "S-2": "Harbour",
    }
    assert foreign.status_code == 200 and not Store.objects.filter(brand=other_brand).exists()


def test_generate_codes_from_the_admin_shows_the_job(brand, django_capture_on_commit_callbacks):
    from promotions.models import Code, CodeJob

    offer = OfferFactory(campaign=CampaignFactory(brand=brand))
    client = logged_in(brand)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/promotions/offer/{offer.id}/generate/", {"count": 25})

    job = CodeJob.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(
        f"/codejob/{job.id}/change/"
    )
    assert Code.objects.filter(offer=offer).count() == 25
    page = client.get(response["Location"])
    assert b"100%" in page.content
    csv_page = client.get(f"/admin/promotions/offer/{offer.id}/codes.csv")
    assert len(b"".join(csv_page.streaming_content).splitlines()) == 26


def test_list_filters_offer_only_the_marketers_own_stores_and_brands(brand, other_brand):
    from tests.factories import pos_integration

    StoreFactory(brand=brand, name="Our corner shop")
    StoreFactory(brand=other_brand, name="Their flagship")
    from tests.factories import PlacementFactory

    PlacementFactory(campaign=CampaignFactory(brand=other_brand), media_partner="Secret Media Co")
    PlacementFactory(campaign=CampaignFactory(brand=brand), media_partner="Our Radio")
    pos_integration(other_brand)
    client = logged_in(brand)

    for url in (
        "/admin/promotions/store/",
        "/admin/redemptions/redemption/",
        "/admin/redemptions/redemptionattempt/",
        "/admin/promotions/campaign/",
    ):
        page = client.get(url)
        assert page.status_code == 200
        assert (
            b"Their flagship" not in page.content and other_brand.name.encode() not in page.content
        )
