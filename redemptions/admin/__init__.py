"""The redemption side of the marketer's admin: POS integrations, logs, campaign dashboards."""

from redemptions.admin import dashboard, integrations, logs  # noqa: F401
