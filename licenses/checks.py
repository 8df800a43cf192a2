"""System checks (`manage.py check`, run before migrate): warn operators when licence keys cannot be
signed, instead of letting the first getLicense answer 000005."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register

from . import signing


@register()
def signing_key_configured(app_configs, **kwargs):
    if settings.ISV_LICENSE_AUTOGENERATE_KEY:
        return []
    try:
        path = signing.key_path()
    except signing.SigningKeyUnavailable as exc:
        return [Warning(str(exc), hint="manage.py license_keygen --out <file>", id="licenses.W001")]
    if not path.is_file():
        return [
            Warning(
                f"the licence signing key {path} does not exist", hint="manage.py license_keygen", id="licenses.W002"
            )
        ]
    return []
