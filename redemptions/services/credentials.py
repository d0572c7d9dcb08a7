"""POS integrations' credentials: API keys (hashed) and signing secrets, issued and rotated."""

from dataclasses import dataclass

from django.utils import timezone

from redemptions.models import PosCredential, PosIntegration, key_hash


@dataclass(frozen=True)
class IssuedCredential:
    credential: PosCredential
    api_key: str
    signing_secret: str


def pos_credential_issue(
    integration: PosIntegration, api_key: str | None = None
) -> IssuedCredential:
    """A new API key and signing secret; the old ones stay valid until revoked (rotation)."""
    api_key = api_key or PosCredential.new_key()
    secret = PosCredential.new_secret()
    credential = PosCredential.objects.create(
        integration=integration,
        key_prefix=api_key[:10],
        key_hash=key_hash(api_key),
        signing_secret=secret,
    )
    return IssuedCredential(credential, api_key, secret)


def pos_credentials_revoke_old(integration: PosIntegration, keep: PosCredential) -> int:
    return (
        PosCredential.objects.filter(integration=integration, revoked_at__isnull=True)
        .exclude(id=keep.id)
        .update(revoked_at=timezone.now())
    )
