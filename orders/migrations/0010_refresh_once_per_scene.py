"""§5.1: refreshInstance is keyed by (instanceId, orderId, scene). The orders' constraint keyed it
by (instance, order, line, kind): two unknown scenes of one order (both kind `other`, U22) were one
order, the second never applied, and the same renewal under another order line was applied twice.
A refresh is now once per (instance, order, scene); `scene` joins the general key (empty for
purchases, upgrades and unsubscriptions)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0009_forget_stored_auth_tokens'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='instanceorder',
            name='instance_order_once_per_kind',
        ),
        migrations.AddConstraint(
            model_name='instanceorder',
            constraint=models.UniqueConstraint(fields=('instance', 'order_id', 'order_line_id', 'kind', 'scene'), name='instance_order_once_per_kind'),
        ),
        migrations.AddConstraint(
            model_name='instanceorder',
            constraint=models.UniqueConstraint(condition=models.Q(('kind__in', ['renewal', 'trial_to_formal', 'unsubscribe_renewal', 'renewal_change', 'other'])), fields=('instance', 'order_id', 'scene'), name='instance_order_refresh_once'),
        ),
    ]
