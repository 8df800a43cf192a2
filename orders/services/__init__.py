"""The business rules of orders and instances: one function per thing KooGallery (or an operator)
asks for, named `<entity>_<verb>`, called by orders.callbacks, orders.admin and the commands.

Every function runs inside the caller's transaction (the pipeline's, for KooGallery calls), locks
the instance row before deciding anything, changes state only through `orders.states.transition`,
and writes its job rows in the same transaction. Idempotency is in the database (the models'
unique constraints): a repeat finds the row the first call wrote and changes nothing.

Outcomes that must keep what was written (an operator alert beside a 000003) are returned as
`Outcome(code=…)`, never raised: a raised error would roll the alert back.
"""

from .common import Outcome, frontend_url
from .creation import (
    Created,
    Purchase,
    instance_create,
    instance_create_fresh,
    instance_query,
    order_notification_record,
)
from .lifecycle import (
    SpecChange,
    instance_check_change,
    instance_freeze,
    instance_refresh,
    instance_release,
    instance_unfreeze,
    instance_upgrade,
)
from .operators import (
    Retried,
    instance_freeze_by_operator,
    instance_retry_provisioning,
    instance_unfreeze_by_operator,
    instance_usage_record,
    order_notification_retry_fetch,
)

__all__ = [
    "Created",
    "Outcome",
    "Purchase",
    "Retried",
    "SpecChange",
    "frontend_url",
    "instance_check_change",
    "instance_create",
    "instance_create_fresh",
    "instance_freeze",
    "instance_freeze_by_operator",
    "instance_query",
    "instance_refresh",
    "instance_release",
    "instance_retry_provisioning",
    "instance_unfreeze",
    "instance_unfreeze_by_operator",
    "instance_upgrade",
    "instance_usage_record",
    "order_notification_record",
    "order_notification_retry_fetch",
]
