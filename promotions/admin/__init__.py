"""The marketer's admin: every list, form and picker scoped to the marketer's brands.

One module per part of the product; ``base`` holds the brand scoping they share.
"""

from django.contrib import admin

from promotions.admin import campaigns, offers, stores, tenancy, touchpoints  # noqa: F401

admin.site.site_header = "Trackable promotions"


admin.site.site_title = "Trackable promotions"


admin.site.index_title = "Your brands' campaigns, offers, stores and tills"
admin.site.site_url = "/api/docs/"  # "View site": the API the tills and apps use
