"""§5.1: refreshInstance is keyed by (instanceId, orderId, scene). The orders' constraint keyed it
by (instance, order, line, kind): two unknown scenes of one order (both kind `other`, U22) were one
order, the second never applied, and the same renewal under another order line was applied twice.
A refresh is now once per (instance, order, scene); `scene` joins the general key (empty for
purchases, upgrades and unsubscriptions).

Rows an earlier version wrote for one refresh under several order lines are kept, the repeats
renamed by scene ("RENEWAL (repeat #123)") so that the new constraint holds: history is not
deleted, and the first row stays the refresh's."""

from django.db import migrations, models

REFRESH_KINDS = ["renewal", "trial_to_formal", "unsubscribe_renewal", "renewal_change", "other"]


def rename_repeated_refreshes(apps, schema_editor):
    InstanceOrder = apps.get_model("orders", "InstanceOrder")
    seen = set()
    rows = InstanceOrder.objects.filter(kind__in=REFRESH_KINDS).order_by("instance_id", "order_id", "scene", "id")
    for row in rows.only("id", "instance_id", "order_id", "scene").iterator():
        key = (row.instance_id, row.order_id, row.scene)
        if key in seen:
            InstanceOrder.objects.filter(pk=row.pk).update(scene=f"{row.scene[:30]} (repeat #{row.pk})")
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0009_forget_stored_auth_tokens"),
    ]

    operations = [
        migrations.RunPython(rename_repeated_refreshes, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="instanceorder",
            name="instance_order_once_per_kind",
        ),
        migrations.AddConstraint(
            model_name="instanceorder",
            constraint=models.UniqueConstraint(
                fields=("instance", "order_id", "order_line_id", "kind", "scene"), name="instance_order_once_per_kind"
            ),
        ),
        migrations.AddConstraint(
            model_name="instanceorder",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind__in", REFRESH_KINDS)),
                fields=("instance", "order_id", "scene"),
                name="instance_order_refresh_once",
            ),
        ),
    ]
