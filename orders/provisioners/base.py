"""The provisioner interface: how the ISV's own system learns what KooGallery sold.

A provisioner is a class with seven methods. Each receives an `InstanceSpec` — a plain snapshot
of the instance, no Django model — and either returns or raises:

- `provision(spec) -> AppInfo | None`   create the buyer's workspace / account / tenant
- `renew(spec) -> None`                 the expiry (`spec.expires_at`) moved
- `freeze(spec) -> None`                block use, keep every byte of data (§5.6)
- `unfreeze(spec) -> None`              allow use again
- `upgrade(spec) -> AppInfo | None`     the spec (sku, product, quantity…) changed
- `release(spec) -> None`               delete the resource (§4.1.5); must accept an unknown id
- `check_change(spec, change) -> Verdict`  may the buyer renew into `change`? (§4.1.7, answered inline)

Every method must be idempotent: a job can run twice (a worker killed after the effect but
before the acknowledgement, a lease that expired). Raise `ProvisionerError` for a failure worth
retrying (network, timeouts, 5xx) and `ProvisionRefused` for a permanent one; `ProvisionRefused`
carries the KooGallery result code queryInstance answers (000100–000107, default 000005; any
other code is answered as 000005).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from marketplace_isv import envelope
from marketplace_isv.envelope import INTERNAL_ERROR

# §3.1: userName/password are ≤ 128 characters *encrypted*: at most 79 UTF-8 bytes of plaintext.
CREDENTIAL_MAX_BYTES = 79
URL_MAX = 512
MEMO_MAX = 1024


class ProvisionerError(Exception):
    """A failure worth retrying with backoff."""


# §5.3, U20, §6: a purchase that failed for good is answered 000005 or a fitting new-purchase code
# (000100–000107). No other code may stand for it: 000004 would have KooGallery poll for ever
# instead of failing and refunding the order, 000000 would report success, and 000001–000003 and
# 0009xx mean something else.
PURCHASE_FAILURE_CODES = frozenset(
    {
        INTERNAL_ERROR,
        envelope.NO_RESOURCE,
        envelope.MOBILE_INVALID,
        envelope.EMAIL_INVALID,
        envelope.CANNOT_BUY_TWICE,
        envelope.PRODUCT_SERVICE_ERROR,
        envelope.ENTITLEMENT_EXISTS,
        envelope.SOLD_OUT,
        envelope.EMAIL_DOMAIN_EXISTS,
    }
)


class ProvisionRefused(Exception):
    """A permanent failure: no retry. `code` is what queryInstance answers (U20): one of
    PURCHASE_FAILURE_CODES, anything else becomes 000005."""

    def __init__(self, message: str, *, code: str = INTERNAL_ERROR):
        super().__init__(message)
        self.code = code if code in PURCHASE_FAILURE_CODES else INTERNAL_ERROR


@dataclass(frozen=True)
class AppInfo:
    """The buyer's access data (§4.1.2 appInfo). None = keep what we already have."""

    front_end_url: str | None = None
    admin_url: str | None = None
    user_name: str | None = None
    password: str | None = None
    memo: str | None = None

    def checked(self) -> AppInfo:
        """Refuse values KooGallery would reject (lengths of §4.1.2 / §3.1); trim the memo."""
        for name in ("front_end_url", "admin_url"):
            value = getattr(self, name)
            if value is not None and len(value) > URL_MAX:
                raise ProvisionRefused(f"appInfo.{name} is longer than {URL_MAX} characters")
        for name in ("user_name", "password"):
            value = getattr(self, name)
            if value is not None and len(value.encode("utf-8")) > CREDENTIAL_MAX_BYTES:
                raise ProvisionRefused(f"appInfo.{name} is longer than {CREDENTIAL_MAX_BYTES} UTF-8 bytes")
        if self.memo is not None and len(self.memo) > MEMO_MAX:
            return AppInfo(self.front_end_url, self.admin_url, self.user_name, self.password, self.memo[:MEMO_MAX])
        return self

    @classmethod
    def from_json(cls, data: Any) -> AppInfo | None:
        """From a JSON object with KooGallery's member names (frontEndUrl, adminUrl, …)."""
        if not isinstance(data, dict):
            return None

        def text(name: str) -> str | None:
            value = data.get(name)
            return None if value is None else str(value)

        return cls(text("frontEndUrl"), text("adminUrl"), text("userName"), text("password"), text("memo"))


@dataclass(frozen=True)
class InstanceSpec:
    """A snapshot of one instance, as a provisioner sees it."""

    instance_id: str
    generation: int
    order_id: str
    order_line_id: str
    status: str
    is_test: bool
    is_trial: bool
    customer_id: str
    customer_name: str
    user_id: str
    user_name: str
    mobile_phone: str
    email: str
    product_id: str
    sku_code: str
    product_name: str
    charging_mode: str
    period_type: str
    period_number: int | None
    quantity: int | None
    disk_size: int | None
    band_width: int | None
    expires_at: datetime | None
    extend_params: list = field(default_factory=list)
    front_end_url: str = ""
    admin_user_name: str = ""  # proposed admin credentials: use them, or return your own in AppInfo
    admin_password: str = ""
    order_details: dict | None = None  # the raw Query Order answer (V2)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return data


@dataclass(frozen=True)
class ChangeRequest:
    """changeInstanceCheck's productInfo (§4.1.7): the spec the buyer wants to renew into."""

    product_id: str
    sku_code: str
    product_name: str
    linear_value: int | None = None


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str = ""


class Provisioner(Protocol):
    name: str

    def provision(self, spec: InstanceSpec) -> AppInfo | None: ...
    def renew(self, spec: InstanceSpec) -> None: ...
    def freeze(self, spec: InstanceSpec) -> None: ...
    def unfreeze(self, spec: InstanceSpec) -> None: ...
    def upgrade(self, spec: InstanceSpec) -> AppInfo | None: ...
    def release(self, spec: InstanceSpec) -> None: ...
    def check_change(self, spec: InstanceSpec, change: ChangeRequest) -> Verdict: ...
