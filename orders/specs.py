"""The provisioner's view of an instance: a frozen snapshot, no Django model (orders.provisioners)."""

from __future__ import annotations

from .models import Instance
from .provisioners.base import ChangeRequest, InstanceSpec


def spec_of(instance: Instance) -> InstanceSpec:
    return InstanceSpec(
        instance_id=instance.instance_id,
        generation=instance.generation,
        order_id=instance.order_id,
        order_line_id=instance.order_line_id,
        status=instance.status,
        is_test=instance.is_test,
        is_trial=instance.is_trial,
        customer_id=instance.customer_id,
        customer_name=instance.customer_name,
        user_id=instance.user_id,
        user_name=instance.user_name,
        mobile_phone=instance.mobile_phone,
        email=instance.email,
        product_id=instance.product_id,
        sku_code=instance.sku_code,
        product_name=instance.product_name,
        charging_mode=instance.charging_mode,
        period_type=instance.period_type,
        period_number=instance.period_number,
        quantity=instance.quantity,
        disk_size=instance.disk_size,
        band_width=instance.band_width,
        expires_at=instance.expires_at,
        extend_params=list(instance.saas_extend_params or []),
        front_end_url=instance.front_end_url,
        admin_user_name=instance.app_user_name,
        admin_password=instance.app_password,
        order_details=instance.query_order,
    )


__all__ = ["ChangeRequest", "spec_of"]
