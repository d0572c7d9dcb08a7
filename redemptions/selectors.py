from django.db import connection

from promotions.sql import converted, prepared_cursor
from redemptions.models import PosCredential, PosIntegration, key_hash

# Hot path (every POS call starts here): one hand-written statement, prepared once per pooled
# connection, instead of compiling a select_related query per request. Covered by the POS tests.
_INTEGRATION_FIELDS = PosIntegration._meta.concrete_fields
_INTEGRATION_FOR_KEY_SQL = f"""
    SELECT {", ".join("i." + f.column for f in _INTEGRATION_FIELDS)}
    FROM {PosCredential._meta.db_table} k
    JOIN {PosIntegration._meta.db_table} i ON i.id = k.integration_id
    WHERE k.key_hash = %s AND k.revoked_at IS NULL AND i.is_active
"""


def integration_for_key(api_key: str) -> PosIntegration | None:
    """The active integration whose live (unrevoked) credential matches ``api_key``."""
    if not api_key:
        return None
    with prepared_cursor() as cursor:
        cursor.execute(_INTEGRATION_FOR_KEY_SQL, [key_hash(api_key)])
        row = cursor.fetchone()
    if row is None:
        return None
    return PosIntegration.from_db(
        connection.alias,
        [f.attname for f in _INTEGRATION_FIELDS],
        converted(_INTEGRATION_FIELDS, row),
    )


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
