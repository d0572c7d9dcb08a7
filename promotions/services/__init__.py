"""Every write of the promotions side: ``claim`` (a shopper's code), ``bulk_codes`` (jobs that
generate codes by the million), ``offers`` (the rules an offer applies)."""

from promotions.services.bulk_codes import code_job_create, code_job_run, codes_insert
from promotions.services.claim import ClaimResult, code_claim
from promotions.services.offers import offer_check_open

__all__ = [
    "ClaimResult",
    "code_claim",
    "code_job_create",
    "code_job_run",
    "codes_insert",
    "offer_check_open",
]
