"""Journal rows written before the journal took an answer's instanceId (newInstance, getLicense)
name no instance, so an instance page could not tell its own creating call from a sibling order
line's. Fill them in from the stored answer; rows whose answer names none stay as they are.

Not atomic: each batch commits on its own, so a large journal is not held in one transaction
(pruning and the journal writer keep going while it runs)."""

import json

from django.db import migrations

BATCH = 2000


def backfill(apps, schema_editor):
    Delivery = apps.get_model("marketplace_isv", "Delivery")
    rows = (
        Delivery.objects.filter(
            activity__in=["newInstance", "getLicense"], instance_id="", response_body__contains='"instanceId"'
        )
        .only("id", "response_body")
        .iterator(chunk_size=BATCH)
    )
    changed = []
    for row in rows:
        try:
            answer = json.loads(row.response_body)
        except ValueError:
            continue
        instance_id = answer.get("instanceId") if isinstance(answer, dict) else None
        if isinstance(instance_id, (str, int)) and not isinstance(instance_id, bool) and str(instance_id):
            row.instance_id = str(instance_id)[:255]
            changed.append(row)
        if len(changed) >= BATCH:
            Delivery.objects.bulk_update(changed, ["instance_id"])
            changed = []
    if changed:
        Delivery.objects.bulk_update(changed, ["instance_id"])


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("marketplace_isv", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
