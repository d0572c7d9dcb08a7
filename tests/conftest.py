import pytest
from django.conf import settings
from rest_framework.test import APIClient

from config.celery import app as celery_app
from core.publish import forget_pending
from tests.factories import (
    BrandFactory,
    CampaignFactory,
    CodeFactory,
    OfferFactory,
    StoreFactory,
    marketer,
)
from tests.helpers import (
    PostgresCluster,
    Worker,
    _running,
    default_database_at,
    empty_broker,
    needs_marker,
)


def pytest_configure(config):
    # The suite makes users by the dozen: Django's default hasher spends 0.6 s of CPU on each
    # password. No test is about the hasher, and production's setting stays as it is.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _markers_of_the_running_test(request):
    _running["markers"] = {marker.name for marker in request.node.iter_markers()}
    yield
    _running.clear()


@pytest.fixture
def client_api():
    return APIClient()


@pytest.fixture
def brand(db):
    return BrandFactory()


@pytest.fixture
def other_brand(db):
    return BrandFactory()


@pytest.fixture
def store(brand):
    return StoreFactory(brand=brand)


@pytest.fixture
def campaign(brand):
    return CampaignFactory(brand=brand)


@pytest.fixture
def offer(campaign):
    return OfferFactory(campaign=campaign)


@pytest.fixture
def app_client(brand):
    client = APIClient()
    client.credentials(HTTP_X_APP_KEY=brand.app_key)
    return client


@pytest.fixture
def marketer_client(brand):
    _, token = marketer(brand)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def broker(transactional_db):
    """Publish to the real Redis broker (not in-process) for the duration of the test."""
    needs_marker("broker")
    if not settings.CELERY_BROKER_URL:
        pytest.skip("no CELERY_BROKER_URL")
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as conn:
        empty_broker(conn.default_channel.client)
    forget_pending()  # a coalesced run of an earlier test went with the flushed queue
    yield celery_app
    celery_app.conf.task_always_eager = True
    forget_pending()


@pytest.fixture
def celery_worker(broker):
    worker = Worker().start()
    yield worker
    worker.stop()


@pytest.fixture
def own_postgres(transactional_db):
    """A PostgreSQL cluster of the test's own that this process's database connection uses for
    the duration of the test: the test may stop it; it is stopped and deleted after."""
    cluster = PostgresCluster()
    try:
        cluster.create()
        with default_database_at(cluster):
            yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pos(brand, store):
    from tests.factories import pos_integration

    return pos_integration(brand)


@pytest.fixture
def till(pos):
    """An API client authenticated as the brand's generic POS integration."""
    _, api_key, _ = pos
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def code(offer):
    """An issued unique code of the brand's offer."""
    return CodeFactory(offer=offer)
