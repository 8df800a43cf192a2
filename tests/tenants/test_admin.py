"""The operators' console for tenants: read-only records, filters, search, the department tree,
masked secrets, and the re-decrypt action."""

import pytest
from django.urls import reverse

from marketplace_isv.crypto import rsa_oaep_encrypt
from tenants import services
from tenants.models import Application, Department, SyncLog, Tenant, TenantUser
from tests.tenants.conftest import stamp

pytestmark = pytest.mark.django_db

SECRET = "visible-nowhere-0123456789"


@pytest.fixture
def synced(kit_v2, rsa_key):
    calls = [
        kit_v2("tenantSync", flag=1, tenantId="t-1", tenantCode="acme", name="ACME", domainName="acme.example.com"),
        kit_v2("tenantSync", flag=1, tenantId="t-2", tenantCode="beta", name="Beta", domainName="beta.example.com"),
    ]
    calls.append(
        kit_v2(
            "applicationSync",
            flag=1,
            tenantId="t-1",
            appId="app-1",
            clientId="client-1",
            clientSecret=rsa_oaep_encrypt(SECRET, rsa_key.publickey()),
        )
    )
    users = [
        {"userName": "boss", "name": "The Boss", "orgCode": "hq", "role": "admin", "enable": "true"},
        {"userName": "dev", "name": "A Developer", "orgCode": "rd", "role": "user", "enable": "true"},
        {"userName": "gone", "name": "Former", "orgCode": "rd", "role": "user", "enable": "false"},
    ]
    calls.append(kit_v2("authSync", flag=1, tenantId="t-1", appId="app-1", userList=users, currentSyncTime=stamp()))
    calls.append(kit_v2("authSync", flag=1, tenantId="t-2", appId="app-9", userList=users[:1], currentSyncTime=stamp()))
    orgs = [
        {"orgCode": "hq", "orgName": "Headquarters", "parentCode": ""},
        {"orgCode": "rd", "orgName": "Research", "parentCode": "hq"},
        {"orgCode": "web", "orgName": "Web", "parentCode": "rd"},
        {"orgCode": "lost", "orgName": "Lost Child", "parentCode": "not-here"},
        {"orgCode": "a", "orgName": "Loop A", "parentCode": "b"},
        {"orgCode": "b", "orgName": "Loop B", "parentCode": "a"},
    ]
    calls.append(kit_v2("allOrgSync", tenantId="t-1", orgInfoList=orgs, timeStamp=stamp(-5)))
    calls.append(kit_v2("singleOrgSync", flag=0, tenantId="t-1", orgCode="old", orgName="Old"))
    assert [reply.code for reply in calls] == ["000000"] * len(calls), [reply.json for reply in calls]
    return Tenant.objects.get(tenant_id="t-1")


def page(admin_client, url, **params):
    response = admin_client.get(url, params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def changelist(model):
    return reverse(f"admin:tenants_{model}_changelist")


def test_tenant_changelist_filters_and_searches(admin_client, synced):
    assert "ACME" in page(admin_client, changelist("tenant"))
    found = page(admin_client, changelist("tenant"), q="t-2")
    assert "Beta" in found and "ACME" not in found
    by_instance = page(admin_client, changelist("tenant"), q="inst-0001")
    assert "Beta" in by_instance and "ACME" in by_instance
    assert "ACME" in page(admin_client, changelist("tenant"), status__exact="active")
    assert "ACME" not in page(admin_client, changelist("tenant"), status__exact="deleted")


def test_tenant_detail_shows_binding_and_application_with_the_secret_masked(admin_client, synced):
    body = page(admin_client, reverse("admin:tenants_tenant_change", args=[synced.pk]))
    assert "https://acme.example.com" in body and "inst-0001" in body and "client-1" in body
    assert "stored encrypted" in body
    assert SECRET not in body
    assert Application.objects.get().client_secret_sealed not in body


def test_the_secret_is_shown_nowhere(admin_client, synced):
    app = Application.objects.get()
    for url in (changelist("application"), reverse("admin:tenants_application_change", args=[app.pk])):
        body = page(admin_client, url)
        assert "client-1" in body
        assert SECRET not in body and app.client_secret_sealed not in body and "g1:" not in body


def test_the_department_tree_is_indented_and_tolerates_orphans_and_cycles(admin_client, synced):
    body = page(admin_client, reverse("admin:tenants_tenant_departments", args=[synced.pk]))
    assert body.index("Headquarters") < body.index("Research") < body.index("Web")
    assert 'padding-left: 48px">└ <a' in body  # Web: two levels down
    assert "parent not-here not (yet) known" in body
    assert "in a parent cycle" in body
    assert "6 live departments" in body and "1 removed" in body


def test_department_changelist_filters_by_tenant_and_removal(admin_client, synced):
    removed = page(admin_client, changelist("department"), removed__exact="1")
    assert "old" in removed and "Research" not in removed
    by_parent = page(admin_client, changelist("department"), q="hq")
    assert "Research" in by_parent
    assert "Research" in page(admin_client, changelist("department"), tenant__id__exact=synced.pk)


def test_users_filter_by_tenant_role_and_enabled(admin_client, synced):
    t2 = Tenant.objects.get(tenant_id="t-2")
    admins = page(admin_client, changelist("tenantuser"), role__exact="admin", tenant__id__exact=synced.pk)
    assert "The Boss" in admins and "A Developer" not in admins
    disabled = page(admin_client, changelist("tenantuser"), enabled__exact="0")
    assert "Former" in disabled and "The Boss" not in disabled
    other = page(admin_client, changelist("tenantuser"), tenant__id__exact=t2.pk)
    assert "app-9" in other and "A Developer" not in other
    assert "A Developer" in page(admin_client, changelist("tenantuser"), q="dev")
    user = TenantUser.objects.get(user_name="dev")
    assert "A Developer" in page(admin_client, reverse("admin:tenants_tenantuser_change", args=[user.pk]))


def test_sync_log_lists_each_call_and_links_its_delivery(admin_client, synced):
    log = SyncLog.objects.filter(interface="allOrgSync").get()
    body = page(admin_client, changelist("synclog"), q=str(log.delivery_id))
    assert "allOrgSync" in body
    assert reverse("admin:marketplace_isv_delivery_change", args=[log.delivery_id]) in body
    assert "authSync" in page(admin_client, changelist("synclog"), interface__exact="authSync")
    assert "allOrgSync" in page(admin_client, reverse("admin:tenants_synclog_change", args=[log.pk]))


def test_records_cannot_be_added_changed_or_deleted(admin_client, synced):
    assert admin_client.get(reverse("admin:tenants_tenant_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:tenants_tenant_change", args=[synced.pk]), {"name": "Hacked", "tenant_id": "t-1"}
    )
    assert response.status_code == 403
    assert admin_client.get(reverse("admin:tenants_tenant_delete", args=[synced.pk])).status_code == 403
    assert Tenant.objects.get(pk=synced.pk).name == "ACME"


def test_redecrypt_action_decrypts_kept_ciphertexts(
    admin_client, kit_v2, settings, rsa_key_path, wrong_key_path, rsa_key
):
    settings.KOOGALLERY_RSA_PRIVATE_KEY_FILE = str(wrong_key_path)
    secret = rsa_oaep_encrypt(SECRET, rsa_key.publickey())
    assert (
        kit_v2("applicationSync", flag=1, tenantId="t-1", appId="a", clientId="c", clientSecret=secret).code == "000101"
    )
    app = Application.objects.get()
    assert "RSA ciphertext kept" in page(admin_client, changelist("application"))
    settings.KOOGALLERY_RSA_PRIVATE_KEY_FILE = str(rsa_key_path)
    response = admin_client.post(
        changelist("application"), {"action": "redecrypt", "_selected_action": [app.pk]}, follow=True
    )
    assert "1 secret(s) decrypted" in response.content.decode()
    app.refresh_from_db()
    assert app.secret_state == "ok" and services.application_client_secret(app) == SECRET


def test_sso_accounts_are_listed(admin_client):
    assert admin_client.get(changelist("ssoaccount")).status_code == 200


def test_departments_page_of_an_empty_tenant(admin_client):
    tenant = Tenant.objects.create(tenant_id="empty")
    assert "No live departments" in page(admin_client, reverse("admin:tenants_tenant_departments", args=[tenant.pk]))
    assert Department.objects.count() == 0


def test_the_see_also_links_carry_any_tenant_id_intact(admin_client, kit_v2):
    reply = kit_v2("tenantSync", flag=1, tenantId="a&b c", tenantCode="odd", name="Odd", domainName="odd.example")
    assert reply.code == "000000", reply.json
    tenant = Tenant.objects.get(tenant_id="a&b c")
    page = admin_client.get(reverse("admin:tenants_tenant_change", args=[tenant.pk])).content.decode()
    assert "?q=a%26b+c" in page


def test_view_only_staff_cannot_redecrypt(client, synced):
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_application"))
    client.force_login(viewer)
    listing = client.get(changelist("application"))
    assert listing.status_code == 200 and "redecrypt" not in listing.content.decode()


def test_pages_name_the_tenant_by_its_id_not_a_row_number(admin_client, synced):
    app = Application.objects.get(app_id="app-1")
    page_text = admin_client.get(reverse("admin:tenants_application_change", args=[app.pk])).content.decode()
    assert "app app-1 of t-1" in page_text
    user = TenantUser.objects.get(tenant=synced, user_name="boss")
    page_text = admin_client.get(reverse("admin:tenants_tenantuser_change", args=[user.pk])).content.decode()
    assert "boss (t-1)" in page_text


def test_the_tenant_page_reads_its_rows_without_a_query_per_row(admin_client, synced, kit_v2):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("admin:tenants_tenant_change", args=[synced.pk])
    admin_client.get(url)  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as before:
        admin_client.get(url)
    for n in range(8):
        reply = kit_v2("tenantSync", flag=1, tenantId="t-1", instanceId=f"inst-{n}", orderId=f"o-{n}",
                       tenantCode="acme", name="ACME", domainName="acme.example.com")  # fmt: skip
        assert reply.code == "000000"
    assert synced.bindings.count() >= 8
    with CaptureQueriesContext(connection) as after:
        admin_client.get(url)
    assert len(after.captured_queries) == len(before.captured_queries)
