"""Embedded mode (SQLite): rows written by hand-built SQL — the journal's, the Kit upserts' — must
read back through the ORM exactly like PostgreSQL's."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django, os
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.conf import settings
from config.wsgi import application
from marketplace_isv.models import Delivery
from marketplace_isv.simulator.client import KooGallery, WsgiTarget
client = KooGallery(WsgiTarget(application), access_key=settings.KOOGALLERY_ACCESS_KEY)
reply = client.v2("noSuchActivity", {"orderId": "CS-EMBEDDED"})
assert reply.code == "000002", reply.body
row = Delivery.objects.get(order_id="CS-EMBEDDED")
assert Delivery.objects.filter(pk=row.pk).exists()
assert str(row.pk) == reply.headers["x-delivery-id"]
assert row.raw_headers["content-type"].startswith("application/json")
assert row.received_at.tzinfo is not None
print("ok", row.pk)
"""


def test_journal_rows_round_trip_on_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DATABASE_TEST_NAME")}
    env.update({"ISV_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", "ISV_LOG_LEVEL": "WARNING"})
    env.pop("ISV_TESTING", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok")


KIT_SCRIPT = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.conf import settings
from config.wsgi import application
from marketplace_isv.simulator.client import KooGallery, WsgiTarget
from tenants.models import TenantUser
from tests.tenants.conftest import stamp
client = KooGallery(WsgiTarget(application), access_key=settings.KOOGALLERY_ACCESS_KEY,
                    kit_key=settings.KOOGALLERY_KIT_ACCESS_KEY)
user = {"userName": "zhangsan", "name": "Zhang San", "orgCode": "org-rd", "role": "user", "enable": "true"}
for flag, extra, moment in ((1, {"workPlace": "Shenzhen", "entryDate": "2021-3-9"}, -20),
                            (2, {"workPlace": "Xi'an"}, -10), (2, {}, 0)):
    fields = {"tenantId": "t-1", "appId": "app-1", "flag": flag, "currentSyncTime": stamp(moment),
              "userList": [{**user, **extra}]}
    reply = client.kit_v2("authSync", fields)
    assert reply.code == "000000", reply.body
stored = TenantUser.objects.get(user_name="zhangsan").extension
assert stored == {"workPlace": "Xi'an", "entryDate": "2021-3-9"}, stored
print("ok")
"""


def test_kit_extension_members_merge_on_sqlite_too(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DATABASE_TEST_NAME")}
    env.update({"ISV_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", "ISV_LOG_LEVEL": "WARNING"})
    env.pop("ISV_TESTING", None)
    out = subprocess.run(
        [sys.executable, "-c", KIT_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok")
