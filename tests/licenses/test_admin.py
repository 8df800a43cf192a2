"""The operators' console for licences: changelists, filters, search, detail pages, and the
reissue / revoke / retry-upload actions (which call the same services, actor = the operator)."""

import pytest
from django.contrib.auth.models import Permission, User

from licenses.models import License, LicenseEvent, LicenseUpload
from marketplace_isv.simulator.fake_openapi import UPLOAD_PREFIX
from tests.licenses.conftest import in_days, issued, stamp

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/licenses/license/"


def action(admin_client, url, name, *pks):
    return admin_client.post(url, {"action": name, "_selected_action": [str(pk) for pk in pks]}, follow=True)


@pytest.fixture
def licences(koogallery):
    active, _ = issued(koogallery, order_id="CSADMIN-ACTIVE")
    frozen, _ = issued(koogallery, order_id="CSADMIN-FROZEN", expireTime=stamp(in_days(-3)))
    koogallery.v1("expireLicense", {"instanceId": frozen}).assert_envelope()
    koogallery.v2("releaseLicenseCode", {"license": "CODE-ADMIN-1"}).assert_envelope()
    return {"active": active, "frozen": frozen}


def test_the_changelist_shows_status_expiry_and_order(admin_client, licences):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    for text in (licences["active"], licences["frozen"], "CODE-ADMIN-1", "CSADMIN-ACTIVE", "frozen", "released"):
        assert text in page


@pytest.mark.parametrize(
    "query,shown,hidden",
    [
        ("status__exact=frozen", "CSADMIN-FROZEN", "CSADMIN-ACTIVE"),
        ("kind__exact=code", "CODE-ADMIN-1", "CSADMIN-ACTIVE"),
        ("expiry=expired", "CSADMIN-FROZEN", "CSADMIN-ACTIVE"),
        ("is_test__exact=1", "CSADMIN-ACTIVE", "nothing-hidden"),
        ("q=CSADMIN-ACTIVE", "CSADMIN-ACTIVE", "CSADMIN-FROZEN"),
        ("q=CODE-ADMIN-1", "CODE-ADMIN-1", "CSADMIN-ACTIVE"),
    ],
)
def test_filters_and_search(admin_client, licences, query, shown, hidden):
    page = admin_client.get(f"{CHANGELIST}?{query}").content.decode()
    assert shown in page and hidden not in page


def test_search_by_instance_id(admin_client, licences):
    page = admin_client.get(f"{CHANGELIST}?q={licences['frozen']}").content.decode()
    assert "CSADMIN-FROZEN" in page and "CSADMIN-ACTIVE" not in page


def test_the_detail_page_shows_the_key_and_the_event_log(admin_client, licences):
    row = License.objects.get(instance_id=licences["frozen"])
    page = admin_client.get(f"{CHANGELIST}{row.pk}/change/").content.decode()
    assert row.token in page
    assert "expireLicense" in page and "getLicense" in page  # the events' reasons
    assert "authToken" not in page  # the raw call is stored without its secret


def test_licences_are_read_only_records(admin_client, licences):
    row = License.objects.get(instance_id=licences["active"])
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    admin_client.post(f"{CHANGELIST}{row.pk}/change/", {"status": "revoked"})
    assert License.objects.get(pk=row.pk).status == "active"
    assert admin_client.get(f"{CHANGELIST}{row.pk}/delete/").status_code == 403


def test_the_revoke_action_revokes_as_the_operator(admin_client, licences):
    row = License.objects.get(instance_id=licences["active"])
    response = action(admin_client, CHANGELIST, "revoke_selected", row.pk)
    # The message names the licence as it is (ids are not capitalised) and says which kind it is.
    assert f"Revoked: License V1 (getLicense) {licences['active']}." in response.content.decode()
    row.refresh_from_db()
    assert row.status == "revoked"
    event = row.events.last()
    assert (event.kind, event.from_status, event.to_status, event.actor) == (
        "revoke",
        "active",
        "revoked",
        "operator:admin",
    )


def test_the_reissue_action_signs_a_new_generation(admin_client, licences, shipped_verifier):
    row = License.objects.get(instance_id=licences["active"])
    old_token = row.token
    action(admin_client, CHANGELIST, "reissue_selected", row.pk)
    row.refresh_from_db()
    assert row.token != old_token and row.token_generation == 2
    assert shipped_verifier.require(row.token)["gen"] == 2
    assert row.events.last().actor == "operator:admin"


def test_a_code_cannot_be_reissued_and_the_operator_is_told(admin_client, licences):
    code = License.objects.get(license_code="CODE-ADMIN-1")
    page = action(admin_client, CHANGELIST, "reissue_selected", code.pk).content.decode()
    assert "Not reissued: License 2.0 code (KooGallery) CODE-ADMIN-1 — " in page
    assert not code.events.filter(kind="reissue").exists()


def test_a_revoked_licence_cannot_be_revoked_into_anything_else(admin_client, licences):
    row = License.objects.get(instance_id=licences["active"])
    action(admin_client, CHANGELIST, "revoke_selected", row.pk)
    page = action(admin_client, CHANGELIST, "reissue_selected", row.pk).content.decode()
    assert f"Not reissued: License V1 (getLicense) {licences['active']} — " in page


def test_staff_with_view_permission_only_cannot_act(client, licences):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_license"))
    client.force_login(viewer)
    page = client.get(CHANGELIST).content.decode()
    assert "CSADMIN-ACTIVE" in page and "revoke_selected" not in page
    row = License.objects.get(instance_id=licences["active"])
    client.post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [str(row.pk)]})
    assert License.objects.get(pk=row.pk).status == "active"


def test_the_event_log_is_searchable_by_delivery(admin_client, licences):
    event = LicenseEvent.objects.filter(kind="freeze").first()
    page = admin_client.get(f"/admin/licenses/licenseevent/?q={event.delivery_id}").content.decode()
    assert page.count('class="field-kind"') == 1
    assert '<td class="field-kind">freeze</td>' in page


def test_a_failed_upload_is_retried_from_the_admin(
    admin_client, koogallery, fake_openapi, settings, django_capture_on_commit_callbacks
):
    settings.ISV_LICENSE_UPLOAD_MAX_ATTEMPTS = 1
    instance_id, _ = issued(koogallery)
    fake_openapi.fail_next(UPLOAD_PREFIX)
    with django_capture_on_commit_callbacks(execute=True):
        koogallery.v2(
            "getLicenseAsync",
            {
                "instanceId": instance_id,
                "eventId": "evt-admin",
                "effectiveTime": stamp(in_days(0)),
                "expireTime": stamp(in_days(30)),
            },
        ).assert_envelope()
    upload = LicenseUpload.objects.get(event_id="evt-admin")
    assert upload.status == "failed"
    page = admin_client.get("/admin/licenses/licenseupload/?status__exact=failed").content.decode()
    assert "evt-admin" in page and "MKT.0999" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = action(admin_client, "/admin/licenses/licenseupload/", "retry_selected", upload.pk)
    assert "1 failed upload(s) queued again." in response.content.decode()
    upload.refresh_from_db()
    assert (upload.status, upload.attempts) == ("done", 1)
    assert [u["event_id"] for u in fake_openapi.uploads()] == ["evt-admin"]


def test_a_failed_upload_of_a_revoked_licence_is_not_sent_again(
    admin_client, koogallery, fake_openapi, settings, django_capture_on_commit_callbacks
):
    settings.ISV_LICENSE_UPLOAD_MAX_ATTEMPTS = 1
    instance_id, _ = issued(koogallery)
    fake_openapi.fail_next(UPLOAD_PREFIX)
    fields = {"instanceId": instance_id, "eventId": "evt-revoked", "effectiveTime": stamp(in_days(0)),
              "expireTime": stamp(in_days(30))}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        koogallery.v2("getLicenseAsync", fields).assert_envelope()
    upload = LicenseUpload.objects.get(event_id="evt-revoked")
    License.objects.filter(pk=upload.license_id).update(status="revoked")
    with django_capture_on_commit_callbacks(execute=True):
        response = action(admin_client, "/admin/licenses/licenseupload/", "retry_selected", upload.pk)
    assert "0 failed upload(s) queued again. 1 skipped" in response.content.decode()
    upload.refresh_from_db()
    assert upload.status == "failed" and fake_openapi.uploads() == []


def test_revoking_a_revoked_licence_says_nothing_was_done(admin_client, licences):
    row = License.objects.get(instance_id=licences["active"])
    action(admin_client, CHANGELIST, "revoke_selected", row.pk)
    page = action(admin_client, CHANGELIST, "revoke_selected", row.pk).content.decode()
    assert f"Already revoked, nothing done: License V1 (getLicense) {licences['active']}." in page
    assert "Revoked: " not in page
    assert row.events.filter(kind="revoke").count() == 1
