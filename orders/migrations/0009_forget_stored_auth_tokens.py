"""V1 calls' authToken was kept with the instance's and its orders' parameters; V1 has no nonce
or time window (U6), so a stored token and its parameters make a call anyone could send again.
Remove it (and any `signature`) from what earlier versions stored. Batched, not atomic."""

from django.db import migrations

SECRETS = ("authToken", "signature")
BATCH = 1000


def forget(apps, schema_editor):
    for model_name, field in (("Instance", "request_params"), ("InstanceOrder", "params")):
        model = apps.get_model("orders", model_name)
        holding = model.objects.none()
        for secret in SECRETS:
            holding = holding | model.objects.filter(**{f"{field}__has_key": secret})
        changed = []
        for row in holding.only("pk", field).iterator(chunk_size=BATCH):
            value = getattr(row, field)
            if isinstance(value, dict):
                setattr(row, field, {k: v for k, v in value.items() if k not in SECRETS})
                changed.append(row)
            if len(changed) >= BATCH:
                model.objects.bulk_update(changed, [field])
                changed = []
        if changed:
            model.objects.bulk_update(changed, [field])


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("orders", "0008_lowercase_labels")]

    operations = [migrations.RunPython(forget, migrations.RunPython.noop)]
