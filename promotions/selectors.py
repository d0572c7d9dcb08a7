import math
from dataclasses import dataclass

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from promotions.models import Brand, Code, Membership, Offer, Store


def brand_ids_for(user, *, editable: bool = False) -> list[int]:
    """The brands a marketer may see (or, with ``editable``, change); superusers see all.

    Remembered on the user object, which lives for one request: an admin page or API call asks
    many times (every permission check, every picker) and runs the query once per kind.
    """
    if user is None or not user.is_authenticated:
        return []
    memo = user.__dict__.setdefault("_brand_ids_memo", {})
    if editable not in memo:
        if user.is_superuser:
            memo[editable] = list(Brand.objects.values_list("id", flat=True))
        else:
            memberships = Membership.objects.filter(user=user)
            if editable:
                memberships = memberships.filter(role=Membership.Role.ADMIN)
            memo[editable] = list(memberships.values_list("brand_id", flat=True))
    return list(memo[editable])


def offers_live(brand_id: int, now=None) -> QuerySet[Offer]:
    """Offers an app may show now: live, in schedule, campaign running, capacity left."""
    now = now or timezone.now()
    return (
        Offer.objects.filter(
            campaign__brand_id=brand_id,
            status=Offer.Status.LIVE,
            valid_from__lte=now,
            campaign__starts_at__lte=now,
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .filter(Q(campaign__ends_at__isnull=True) | Q(campaign__ends_at__gt=now))
        .filter(Q(total_cap__isnull=True) | Q(issued_count__lt=F("total_cap")))
        .prefetch_related("stores")
        .order_by("-valid_from", "id")
    )


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = math.radians(lat2 - lat1), math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class NearbyOffer:
    offer: Offer
    store: Store | None
    distance_km: float | None


def offers_near(
    brand_id: int, lat: float | None, lng: float | None, radius_km: float | None
) -> list[NearbyOffer]:
    """Live offers, each with its nearest eligible store; sorted by distance when located."""
    offers = list(offers_live(brand_id))
    if lat is None or lng is None:
        return [NearbyOffer(offer, None, None) for offer in offers]
    brand_stores = [
        s
        for s in Store.objects.filter(brand_id=brand_id)
        if s.latitude is not None and s.longitude is not None
    ]
    result = []
    for offer in offers:
        eligible = [s for s in offer.stores.all() if s.latitude is not None] or brand_stores
        best, best_km = None, None
        for store in eligible:
            km = haversine_km(lat, lng, store.latitude, store.longitude)
            if best_km is None or km < best_km:
                best, best_km = store, km
        if radius_km is not None and (best_km is None or best_km > radius_km):
            continue
        result.append(NearbyOffer(offer, best, best_km))
    result.sort(key=lambda n: (n.distance_km is None, n.distance_km or 0.0))
    return result


def code_effective_status(code: Code, now=None) -> str:
    now = now or timezone.now()
    if code.status == Code.Status.ISSUED and code.expires_at and code.expires_at <= now:
        return Code.Status.EXPIRED
    return code.status


def customer_wallet(brand_id: int, customer_ref: str) -> QuerySet[Code]:
    return (
        Code.objects.filter(offer__campaign__brand_id=brand_id, customer_ref=customer_ref)
        .select_related("offer")
        .order_by("-issued_at", "-id")
    )


def brand_filter(model, brand_ids) -> dict:
    """Filter arguments for the rows of ``model`` that belong to one of ``brand_ids``: every
    model says once how its rows reach their brand (``Model.brand_path``)."""
    path = model.brand_path
    return {f"{path}__in" if path else "id__in": brand_ids}


def brand_of(obj) -> int:
    """The id of the brand ``obj`` belongs to, along its model's ``brand_path``."""
    for part in filter(None, type(obj).brand_path.split("__")):
        obj = getattr(obj, part)
    return obj.id
