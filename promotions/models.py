import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from promotions import codes


def _token() -> str:
    return secrets.token_urlsafe(16)


def _app_key() -> str:
    return "app_" + secrets.token_urlsafe(24)


class Brand(models.Model):
    """The tenant: every other row belongs to exactly one brand."""

    brand_path = ""  # the lookup to the brand that owns a row (scopes admin and APIs)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    currency = models.CharField(max_length=3, default="USD")
    timezone = models.CharField(max_length=64, default="UTC")
    # Shipped inside the brand's mobile app, so a public identifier rather than a secret.
    app_key = models.CharField(max_length=64, unique=True, default=_app_key)
    # Ad servers post touchpoints with this (server-to-server); only its digest is stored.
    ingest_key_hash = models.CharField(
        max_length=64, unique=True, null=True, blank=True, editable=False
    )
    require_two_factor = models.BooleanField(
        default=False,
        help_text="Members use the admin only after confirming a one-time code from their phone.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="brands"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin (edits)"
        ANALYST = "analyst", "Analyst (reads)"

    brand_path = "brand"
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ADMIN)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "brand"], name="membership_unique_user_brand")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.brand} ({self.role})"


class Store(models.Model):
    brand_path = "brand"
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="stores")
    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=64, help_text="The POS system's own store number.")
    address = models.CharField(max_length=300, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "external_id"], name="store_unique_external_id"
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="store_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="store_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class AttributionModel(models.TextChoices):
    LAST_TOUCH = "last_touch", "Last touch"
    FIRST_TOUCH = "first_touch", "First touch"
    LINEAR = "linear", "Linear"
    TIME_DECAY = "time_decay", "Time decay"
    POSITION_BASED = "position_based", "Position based (40/20/40)"


class Campaign(models.Model):
    brand_path = "brand"
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    attribution_model = models.CharField(
        max_length=20, choices=AttributionModel.choices, default=AttributionModel.LAST_TOUCH
    )
    click_window_days = models.PositiveSmallIntegerField(default=7)
    view_window_hours = models.PositiveSmallIntegerField(default=24)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="campaign_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(click_window_days__gte=0, click_window_days__lte=90),
                name="campaign_click_window_range",
            ),
            models.CheckConstraint(
                condition=Q(view_window_hours__gte=0, view_window_hours__lte=720),
                name="campaign_view_window_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Placement(models.Model):
    """One ad buy inside a campaign; its token goes into tracking links and pixels."""

    brand_path = "campaign__brand"
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="placements")
    media_partner = models.CharField(max_length=120)
    name = models.CharField(max_length=200)
    spend = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    destination_url = models.URLField(max_length=500)
    tracking_token = models.CharField(max_length=32, unique=True, default=_token, editable=False)

    class Meta:
        ordering = ["campaign_id", "name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(spend__gte=0), name="placement_spend_non_negative")
        ]

    def __str__(self) -> str:
        return f"{self.media_partner} / {self.name}"

    @property
    def tracking_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/t/{self.tracking_token}"

    @property
    def pixel_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/i/{self.tracking_token}.gif"


MAX_CODE_TTL_HOURS = 24 * 366 * 5  # five years: every expiry it derives is a real date


class Offer(models.Model):
    class Reward(models.TextChoices):
        PERCENT_OFF = "percent_off", "Percent off"
        AMOUNT_OFF = "amount_off", "Amount off"
        FREE_ITEM = "free_item", "Free item"
        BOGO = "bogo", "Buy one, get one"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LIVE = "live", "Live"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"

    class Barcode(models.TextChoices):
        QR = "qr", "QR code"
        CODE128 = "code128", "Code 128"

    brand_path = "campaign__brand"
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="offers")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    terms = models.TextField(blank=True)
    image_url = models.URLField(max_length=500, blank=True)
    reward_type = models.CharField(max_length=20, choices=Reward.choices)
    reward_value = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    pos_discount_ref = models.CharField(
        max_length=100, blank=True, help_text="The discount the till applies (POS discount id)."
    )
    min_basket = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    code_ttl_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CODE_TTL_HOURS)],
        help_text="How long a claimed code lives; empty = until the offer ends.",
    )
    total_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most codes ever issued (claims and bulk); empty = no cap."
    )
    per_customer_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most codes one customer may claim; empty = no cap."
    )
    stores = models.ManyToManyField(
        Store, blank=True, related_name="offers", help_text="Empty = every store of the brand."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    code_prefix = models.CharField(max_length=8, blank=True)
    code_length = models.PositiveSmallIntegerField(default=codes.DEFAULT_RANDOM_LENGTH)
    barcode = models.CharField(max_length=10, choices=Barcode.choices, default=Barcode.QR)
    issued_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-valid_from", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="offer_valid_until_after_from",
            ),
            models.CheckConstraint(
                condition=Q(total_cap__isnull=True) | Q(total_cap__gte=1),
                name="offer_total_cap_positive",
            ),
            models.CheckConstraint(
                condition=Q(per_customer_cap__isnull=True) | Q(per_customer_cap__gte=1),
                name="offer_per_customer_cap_positive",
            ),
            # The backstop behind the conditional increment in claims and bulk generation.
            models.CheckConstraint(
                condition=Q(total_cap__isnull=True) | Q(issued_count__lte=F("total_cap")),
                name="offer_issued_within_cap",
            ),
            models.CheckConstraint(
                condition=Q(reward_value__gte=0) & Q(min_basket__gte=0),
                name="offer_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=~Q(reward_type="percent_off") | Q(reward_value__lte=100),
                name="offer_percent_at_most_100",
            ),
            models.CheckConstraint(
                condition=Q(code_length__gte=8, code_length__lte=24),
                name="offer_code_length_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def remaining(self) -> int | None:
        return None if self.total_cap is None else max(self.total_cap - self.issued_count, 0)


class Code(models.Model):
    class Kind(models.TextChoices):
        UNIQUE = "unique", "Unique"
        SHARED = "shared", "Shared"

    class Status(models.TextChoices):
        ISSUED = "issued", "Issued"
        REDEEMED = "redeemed", "Redeemed"
        VOIDED = "voided", "Voided"
        EXPIRED = "expired", "Expired"

    brand_path = "offer__campaign__brand"
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(max_length=codes.MAX_CODE_LENGTH, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.UNIQUE)
    placement = models.ForeignKey(
        Placement, null=True, blank=True, on_delete=models.SET_NULL, related_name="codes"
    )
    click_id = models.CharField(max_length=64, blank=True)
    customer_ref = models.CharField(max_length=128, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text="Shared codes only: most redemptions; empty = no cap."
    )
    use_count = models.PositiveIntegerField(default=0)
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["offer", "customer_ref"], name="code_offer_customer")]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(use_count__lte=F("max_uses")),
                name="code_uses_within_cap",
            ),
            models.CheckConstraint(
                condition=Q(kind="shared") | Q(use_count__lte=1),
                name="code_unique_used_once",
            ),
        ]

    def __str__(self) -> str:
        return self.display_code

    @property
    def display_code(self) -> str:
        return codes.display(self.code, len(self.offer.code_prefix))


class CustomerClaim(models.Model):
    """Per-customer claim counter; its row lock serialises one customer's claims of one offer."""

    brand_path = "offer__campaign__brand"
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="customer_claims")
    customer_ref = models.CharField(max_length=128)
    claims = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "customer_ref"], name="customer_claim_unique")
        ]

    def __str__(self) -> str:
        return f"{self.customer_ref}: {self.claims} of {self.offer_id}"


class CodeJob(models.Model):
    """A bulk code generation job and its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    brand_path = "brand"
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="code_jobs")
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="code_jobs")
    placement = models.ForeignKey(Placement, null=True, blank=True, on_delete=models.SET_NULL)
    requested = models.PositiveIntegerField()
    generated = models.PositiveIntegerField(default=0)
    collisions = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(generated__lte=F("requested")), name="code_job_within_request"
            )
        ]

    def __str__(self) -> str:
        return f"{self.requested} codes for {self.offer}"


class Touchpoint(models.Model):
    """An ad impression, an ad click, or a claim, tied to the app's opaque ``customer_ref``."""

    class Kind(models.TextChoices):
        IMPRESSION = "impression", "Impression"
        CLICK = "click", "Click"
        CLAIM = "claim", "Claim"

    brand_path = "brand"
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="touchpoints")
    placement = models.ForeignKey(Placement, on_delete=models.CASCADE, related_name="touchpoints")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    customer_ref = models.CharField(max_length=128, blank=True)
    click_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["brand", "customer_ref", "occurred_at"], name="touch_customer"),
            models.Index(fields=["brand", "click_id"], name="touch_click_id"),
            models.Index(fields=["campaign", "occurred_at"], name="touch_campaign_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.placement_id}"
