from redemptions.models import PosCredential, PosIntegration, key_hash


def integration_for_key(api_key: str) -> PosIntegration | None:
    """The active integration whose live (unrevoked) credential matches ``api_key``."""
    if not api_key:
        return None
    credential = (
        PosCredential.objects.select_related("integration")
        .filter(key_hash=key_hash(api_key), revoked_at__isnull=True, integration__is_active=True)
        .first()
    )
    return credential.integration if credential else None


def integration_for_account(adapter: str, account_id: str) -> PosIntegration | None:
    if not account_id:
        return None
    return PosIntegration.objects.filter(
        adapter=adapter, external_account_id=account_id, is_active=True
    ).first()


def signing_secrets(integration: PosIntegration) -> list[str]:
    """Every live signing secret: during a rotation the old and the new both verify."""
    return list(
        PosCredential.objects.filter(integration=integration, revoked_at__isnull=True)
        .order_by("-created_at")
        .values_list("signing_secret", flat=True)
    )
