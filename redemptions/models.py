import hashlib
import secrets

from django.db import models
from django.db.models import Q

from promotions.models import AttributionModel, Brand, Campaign, Code, Offer, Placement, Store


def key_hash(api_key: str) -> str:
    """API keys carry 192 random bits, so an unsalted SHA-256 is a safe, indexable digest."""
    return hashlib.sha256(api_key.encode()).hexdigest()


# The adapters an integration may name: pos_adapters registers every vendor module it has when
# the apps load (pos_adapters.apps), so that a new vendor needs no change here and no migration.
ADAPTER_NAMES: list[str] = []


def adapter_names_register(names) -> None:
    ADAPTER_NAMES[:] = sorted(set(ADAPTER_NAMES) | set(names))


def adapter_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in ADAPTER_NAMES]


class PosIntegration(models.Model):
    """One POS system of a brand (a Toast restaurant group, a Square merchant, a custom till)."""

    brand_path = "brand"
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="pos_integrations")
    name = models.CharField(max_length=200)
    adapter = models.CharField(max_length=30, choices=adapter_choices)
    stores = models.ManyToManyField(
        Store, blank=True, related_name="pos_integrations", help_text="Empty = every store."
    )
    external_account_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="The vendor's account id (Square merchant id) used to route webhooks.",
    )
    require_signature = models.BooleanField(
        default=False, help_text="Generic adapter: refuse requests without a valid X-Signature."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "POS integration"
        verbose_name_plural = "POS integrations"
        ordering = ["name", "id"]
        constraints = [
            # Vendor webhooks are routed by the vendor's account id alone: one integration per
            # account id across all brands, or a brand could take another's traffic.
            models.UniqueConstraint(
                fields=["adapter", "external_account_id"],
                condition=~Q(external_account_id=""),
                name="pos_integration_one_per_vendor_account",
                violation_error_message="Another POS integration already holds this vendor "
                "account id.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.adapter})"


class PosCredential(models.Model):
    """An API key (stored hashed) and its signing secret. Two may be live during rotation."""

    brand_path = "integration__brand"
    integration = models.ForeignKey(
        PosIntegration, on_delete=models.CASCADE, related_name="credentials"
    )
    key_prefix = models.CharField(max_length=12, help_text="First characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    # HMAC verification needs the secret itself; it is shown once and never logged.
    signing_secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({'revoked' if self.revoked_at else 'active'})"

    @staticmethod
    def new_key() -> str:
        return "pos_" + secrets.token_urlsafe(24)

    @staticmethod
    def new_secret() -> str:
        return "whsec_" + secrets.token_urlsafe(24)


class Redemption(models.Model):
    class Status(models.TextChoices):
        REDEEMED = "redeemed", "Redeemed"
        VOIDED = "voided", "Voided"

    brand_path = "brand"
    code = models.ForeignKey(Code, on_delete=models.PROTECT, related_name="redemptions")
    unique_code = models.BooleanField(help_text="Copied from the code: one live redemption max.")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="redemptions")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="redemptions")
    # Every redemption writes each index of this table twice (its insert, and its attribution's
    # update): foreign keys that lead another index (brand_time, the natural key) get none of
    # their own.
    brand = models.ForeignKey(
        Brand, on_delete=models.PROTECT, related_name="redemptions", db_index=False
    )
    placement = models.ForeignKey(
        Placement,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The placement that issued the code (issuance touch).",
    )
    customer_ref = models.CharField(max_length=128, blank=True)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="redemptions")
    integration = models.ForeignKey(
        PosIntegration, on_delete=models.PROTECT, related_name="redemptions", db_index=False
    )
    transaction_id = models.CharField(max_length=100)
    basket_total = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REDEEMED)
    occurred_at = models.DateTimeField(help_text="When the till says it happened.")
    redeemed_at = models.DateTimeField(help_text="When we recorded it.")
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=200, blank=True)
    attributed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-redeemed_at", "-id"]
        indexes = [
            models.Index(fields=["brand", "redeemed_at"], name="redemption_brand_time"),
            models.Index(
                fields=["redeemed_at"],
                condition=Q(attributed_at__isnull=True),
                name="redemption_unattributed",
            ),
        ]
        constraints = [
            # The backstop of invariant 1: whatever the code path, a unique code has at most
            # one live redemption. A void frees it; a redeem after the void is a new row.
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(status="redeemed", unique_code=True),
                name="redemption_one_live_per_unique_code",
            ),
            # The natural key: a till retrying the same sale for the same code dedupes on it.
            models.UniqueConstraint(
                fields=["integration", "transaction_id", "code"], name="redemption_natural_key"
            ),
            models.CheckConstraint(
                condition=Q(discount__gte=0) & Q(basket_total__gte=0),
                name="redemption_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(status="redeemed", voided_at__isnull=True)
                | Q(status="voided", voided_at__isnull=False),
                name="redemption_void_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.status}"


class RedemptionAttempt(models.Model):
    """Every POS call, accepted or declined: the audit trail and the fraud signal."""

    class Action(models.TextChoices):
        VALIDATE = "validate", "Validate"
        REDEEM = "redeem", "Redeem"
        VOID = "void", "Void"

    brand_path = "brand"
    integration = models.ForeignKey(
        PosIntegration, on_delete=models.CASCADE, related_name="attempts"
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    accepted = models.BooleanField()
    decline_code = models.CharField(max_length=40, blank=True, db_index=True)
    code_last4 = models.CharField(max_length=4, blank=True, help_text="Never the full code.")
    code = models.ForeignKey(
        Code, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    offer = models.ForeignKey(
        Offer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    store_ref = models.CharField(max_length=64, blank=True)
    transaction_id = models.CharField(max_length=100, blank=True)
    redemption = models.ForeignKey(
        Redemption, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {'ok' if self.accepted else self.decline_code}"


class IdempotencyKey(models.Model):
    """A POS request's key and the response it got, replayed to retries for 24 hours."""

    integration = models.ForeignKey(  # the unique (integration, key) index leads with it
        PosIntegration, on_delete=models.CASCADE, related_name="idempotency_keys", db_index=False
    )
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.BinaryField()
    response_content_type = models.CharField(max_length=60, default="application/json")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return self.key


class FailureCounter(models.Model):
    """Consecutive unknown-code failures of one integration or one store (enumeration defence)."""

    scope = models.CharField(max_length=40, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.scope}: {self.failures}"


class Attribution(models.Model):
    """One placement's share of one redemption (placement null = organic)."""

    redemption = models.ForeignKey(Redemption, on_delete=models.CASCADE, related_name="credits")
    placement = models.ForeignKey(
        Placement, null=True, blank=True, on_delete=models.CASCADE, related_name="credits"
    )
    credit = models.DecimalField(max_digits=7, decimal_places=6)
    model = models.CharField(max_length=20, choices=AttributionModel.choices)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["redemption", "placement"],
                name="attribution_one_row_per_placement",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=Q(credit__gt=0) & Q(credit__lte=1), name="attribution_credit_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.redemption_id} -> {self.placement_id or 'organic'}: {self.credit}"


class DailyRollup(models.Model):
    """Campaign x placement x store x day totals; recomputed from raw rows, so idempotent."""

    brand_path = "campaign__brand"
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rollups")
    placement = models.ForeignKey(
        Placement, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    impressions = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    claims = models.PositiveIntegerField(default=0)
    redemptions = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    voids = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    discount = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "placement", "store", "day"],
                name="rollup_grain",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["campaign", "day"], name="rollup_campaign_day")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.day} {self.placement_id}/{self.store_id}"


class RollupWatermark(models.Model):
    """How far the roll-up refresh has read the touchpoint stream (one row)."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_id}"


class RollupDirtySlice(models.Model):
    """A (campaign, UTC day) whose roll-up rows a change has made stale.

    Attribution and voids mark slices; the roll-up refresh takes the marks and rebuilds those
    slices. (A flag on every redemption row, set and cleared, cost two index-maintaining
    updates per redemption.) No foreign key: marking must not lock the campaign row.
    """

    campaign_id = models.BigIntegerField()
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign_id", "day"], name="rollup_dirty_slice")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.day}"
