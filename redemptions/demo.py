"""The redemption side of the demo: a generic POS integration with a stable demo key."""

from promotions.demo import demo_secret
from redemptions import services
from redemptions.models import PosCredential, PosIntegration, key_hash


def seed_pos(brand_id: int) -> str:
    integration, _ = PosIntegration.objects.get_or_create(
        brand_id=brand_id, name="Demo till (generic REST)", defaults={"adapter": "generic"}
    )
    api_key = "pos_" + demo_secret("demo-pos-key")
    if not PosCredential.objects.filter(
        key_hash=key_hash(api_key), revoked_at__isnull=True
    ).exists():
        services.pos_credential_issue(integration, api_key=api_key)
    return api_key
