"""Licence business rules (house style 4): one function per thing KooGallery, an operator or the
ISV's software asks for, named `license_<verb>` with keyword-only arguments. Each runs inside the
caller's transaction (the pipeline's, for callbacks), locks the licence it changes, and changes
status only through `licenses.transitions`.

Protocol references: License V1 §4.3, License 2.0 §4.4, getLicenseAsync §4.4.1, idempotency §5.1,
retries §5.2, debug traffic §5.4, unknown and released instances §5.5.
"""

from .check import CheckAnswer, CheckRefused, license_check
from .codes import CODE_STATUSES, license_code_release, license_code_renew, license_code_set_status
from .online import license_request_online
from .operators import LicenseActionRefused, license_reissue, license_revoke
from .v1 import license_freeze, license_issue, license_release, license_renew

__all__ = [
    "CODE_STATUSES",
    "CheckAnswer",
    "CheckRefused",
    "LicenseActionRefused",
    "license_check",
    "license_code_release",
    "license_code_renew",
    "license_code_set_status",
    "license_freeze",
    "license_issue",
    "license_reissue",
    "license_release",
    "license_renew",
    "license_request_online",
    "license_revoke",
]
