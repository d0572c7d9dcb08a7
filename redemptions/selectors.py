from redemptions.models import PosCredential, PosIntegration


def signing_secrets(integration: PosIntegration) -> list[str]:
    """Every live signing secret: during a rotation the old and the new both verify."""
    return list(
        PosCredential.objects.filter(integration=integration, revoked_at__isnull=True)
        .order_by("-created_at")
        .values_list("signing_secret", flat=True)
    )
