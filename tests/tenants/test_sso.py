"""Single sign-on end to end (§8): our service against the simulator's fake OneAccess server,
with the tenant, its app credentials and its users delivered by real Kit calls."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model

from marketplace_isv.crypto import rsa_oaep_encrypt
from tenants.models import SsoAccount
from tests.support.processes import free_port
from tests.tenants.conftest import stamp

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "tenant-client-secret-0123456789"
CALLBACK = "http://testserver/sso/callback"


def users():
    base = {"orgCode": "org-hq", "enable": "true"}
    return [
        {**base, "userName": "zhangsan", "name": "Zhang San", "role": "admin"},
        {**base, "userName": "lisi", "name": "Li Si", "role": "user"},
        {**base, "userName": "wangwu", "name": "Wang Wu", "role": "user", "enable": "false"},
    ]


@pytest.fixture
def enterprise(kit_v2, fake_oneaccess, rsa_key, settings):
    settings.KOOGALLERY_SSO_APP_ID = "app-1"
    settings.KOOGALLERY_SSO_LOGIN_URL = "https://unified-login.example/unified-login/#/portal-login"
    bind = kit_v2("tenantSync", flag=1, tenantId="t-1", tenantCode="acme", name="ACME", domainName=fake_oneaccess.url)
    assert bind.code == "000000", bind.json
    secret = rsa_oaep_encrypt(CLIENT_SECRET, rsa_key.publickey(), 1)
    assert (
        kit_v2("applicationSync", flag=1, tenantId="t-1", appId="app-1", clientId="client-1", clientSecret=secret).code
        == "000000"
    )
    authorise = kit_v2("authSync", flag=1, tenantId="t-1", appId="app-1", userList=users(), currentSyncTime=stamp(-5))
    assert authorise.code == "000000", authorise.json
    fake_oneaccess.register_client("client-1", CLIENT_SECRET, tenant="t-1", redirect_uri=CALLBACK)
    fake_oneaccess.add_user("t-1", "zhangsan", name="Zhang San", role="admin")
    fake_oneaccess.add_user("t-1", "lisi", name="Li Si", role="user")
    fake_oneaccess.add_user("t-1", "wangwu", name="Wang Wu", role="user")
    fake_oneaccess.add_user("t-1", "stranger", name="Not Authorised", role="user")
    return fake_oneaccess


def sign_in(client, fake, user_name, tenant="t-1"):
    code = fake.sign_in(user_name, tenant="t-1")
    return client.get("/sso/callback", {"code": code, "tenant": tenant})


def assert_refused(response, reason, status=403):
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert f"Reference: {reason}" in body
    assert "Traceback" not in body
    assert "_auth_user_id" not in response.client.session


# --- login -------------------------------------------------------------------------------------


def test_login_sends_the_browser_to_the_unified_login_for_our_app_id(client, enterprise):
    response = client.get("/sso/login")
    assert response.status_code == 302
    assert response["Location"] == "https://unified-login.example/unified-login/#/portal-login?ind=UNOP&appId=app-1"


def test_without_a_configured_app_id_the_tenants_only_app_is_used(client, enterprise, settings):
    settings.KOOGALLERY_SSO_APP_ID = ""
    response = client.get("/sso/login", {"tenant": "t-1"})
    assert response["Location"].endswith("?ind=UNOP&appId=app-1")


def test_login_without_any_app_id_is_refused_clearly(client, settings):
    settings.KOOGALLERY_SSO_APP_ID = ""
    assert_refused(client.get("/sso/login"), "not_configured", status=503)


def test_the_default_login_page_is_huaweis_unified_login():
    import config.settings as defaults

    assert defaults.KOOGALLERY_SSO_LOGIN_URL == "https://macroverse.huaweicloud.com/unified-login/#/portal-login"


# --- callback ----------------------------------------------------------------------------------


def test_an_authorised_user_signs_in_with_the_role_carried_over(client, enterprise):
    response = sign_in(client, enterprise, "zhangsan")
    assert response.status_code == 302 and response["Location"] == "/sso/me"
    data = client.session["koogallery_sso"]
    assert (data["tenant_id"], data["user_name"], data["role"], data["app_id"]) == ("t-1", "zhangsan", "admin", "app-1")
    account = SsoAccount.objects.get(tenant__tenant_id="t-1", user_name="zhangsan")
    assert account.role == "admin"
    assert str(account.user.pk) == client.session["_auth_user_id"]
    assert account.user.first_name == "Zhang San"
    assert not account.user.has_usable_password() and not account.user.is_staff
    page = client.get("/sso/me")
    assert "Zhang San" in page.content.decode() and "admin" in page.content.decode()


def test_the_code_is_exchanged_with_the_tenants_own_client_credentials(client, enterprise):
    sign_in(client, enterprise, "lisi")
    (token_call,) = enterprise.token_calls()
    assert token_call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert token_call.form["client_id"] == "client-1"
    assert token_call.form["client_secret"] == CLIENT_SECRET
    assert token_call.form["grant_type"] == "authorization_code"
    assert token_call.form["redirect_uri"] == CALLBACK
    assert client.session["koogallery_sso"]["role"] == "user"


def test_a_second_sign_in_is_the_same_django_user(client, enterprise):
    sign_in(client, enterprise, "zhangsan")
    first = client.session["_auth_user_id"]
    client.logout()
    sign_in(client, enterprise, "zhangsan")
    assert client.session["_auth_user_id"] == first
    assert get_user_model().objects.filter(username__startswith="kg-").count() == 1


def test_the_next_page_is_honoured_only_when_it_is_ours(client, enterprise):
    client.get("/sso/login", {"next": "/sso/me?tab=1"})
    assert sign_in(client, enterprise, "zhangsan")["Location"] == "/sso/me?tab=1"
    client.logout()
    client.get("/sso/login", {"next": "https://evil.example/"})
    assert sign_in(client, enterprise, "zhangsan")["Location"] == "/sso/me"


def test_a_bad_code_is_refused(client, enterprise):
    response = client.get("/sso/callback", {"code": "forged", "tenant": "t-1"})
    assert_refused(response, "bad_code")
    assert 'href="/sso/login?tenant=t-1"' in response.content.decode()


def test_a_code_works_only_once(client, enterprise):
    code = enterprise.sign_in("zhangsan", tenant="t-1")
    assert client.get("/sso/callback", {"code": code, "tenant": "t-1"}).status_code == 302
    client.logout()
    assert_refused(client.get("/sso/callback", {"code": code, "tenant": "t-1"}), "bad_code")


def test_a_missing_code_is_refused(client, enterprise):
    assert_refused(client.get("/sso/callback", {"tenant": "t-1"}), "no_code", status=400)


def test_a_disabled_user_is_refused(client, enterprise):
    assert_refused(sign_in(client, enterprise, "wangwu"), "disabled")


def test_a_user_authsync_never_authorised_is_refused(client, enterprise):
    assert_refused(sign_in(client, enterprise, "stranger"), "not_authorised")


def test_a_user_whose_authorisation_was_cancelled_is_refused(client, enterprise, kit_v2):
    cancel = kit_v2(
        "authSync", flag=3, tenantId="t-1", appId="app-1", userList=[{"userName": "lisi"}], currentSyncTime=stamp()
    )
    assert cancel.code == "000000"
    assert_refused(sign_in(client, enterprise, "lisi"), "not_authorised")


def test_an_unknown_tenant_is_refused_without_calling_anyone(client, enterprise):
    response = sign_in(client, enterprise, "zhangsan", tenant="no-such-tenant")
    assert_refused(response, "unknown_tenant")
    assert enterprise.token_calls() == []


def test_a_deleted_tenant_is_refused(client, enterprise, kit_v2):
    assert kit_v2("tenantSync", flag=0, tenantId="t-1").code == "000000"  # a delete needs only tenantId
    assert_refused(sign_in(client, enterprise, "zhangsan"), "unknown_tenant")


def test_a_wrong_client_secret_is_refused(client, enterprise, kit_v2, rsa_key):
    wrong = rsa_oaep_encrypt("not-the-secret", rsa_key.publickey())
    kit_v2("applicationSync", flag=2, tenantId="t-1", appId="app-1", clientId="client-1", clientSecret=wrong)
    assert_refused(sign_in(client, enterprise, "zhangsan"), "client_rejected")


def test_an_app_whose_secret_could_not_be_decrypted_is_refused(client, enterprise, kit_v2):
    kit_v2("applicationSync", flag=2, tenantId="t-1", appId="app-1", clientId="client-1", clientSecret="garbage")
    assert_refused(sign_in(client, enterprise, "zhangsan"), "no_credentials")
    assert enterprise.token_calls() == []


def test_an_unreachable_domain_is_refused_with_502(client, enterprise, kit_v2):
    moved = f"http://127.0.0.1:{free_port()}"
    assert (
        kit_v2("tenantSync", flag=2, tenantId="t-1", tenantCode="acme", name="ACME", domainName=moved).code == "000000"
    )
    assert_refused(sign_in(client, enterprise, "zhangsan"), "unreachable", status=502)


def test_an_http_domain_is_refused_outside_test_and_embedded_mode(client, enterprise, settings):
    settings.KOOGALLERY_SSO_ALLOW_HTTP = False
    assert_refused(sign_in(client, enterprise, "zhangsan"), "insecure_domain")
    assert enterprise.token_calls() == []


# --- refresh and logout ------------------------------------------------------------------------


def test_refresh_renews_the_access_token(client, enterprise):
    sign_in(client, enterprise, "zhangsan")
    before = dict(client.session["koogallery_sso"])
    enterprise.expire_access_tokens()
    response = client.post("/sso/refresh")
    assert response.status_code == 200 and response.json() == {"expires_in": 7200}
    after = client.session["koogallery_sso"]
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] == before["refresh_token"]
    refresh_call = enterprise.token_calls()[-1]
    assert refresh_call.form["grant_type"] == "refresh_token"
    assert refresh_call.form["refresh_token"] == before["refresh_token"]
    assert (refresh_call.form["client_id"], refresh_call.form["client_secret"]) == ("client-1", CLIENT_SECRET)
    userinfo = requests.get(
        enterprise.url + "/api/v1/oauth2/userinfo", headers={"Authorization": f"Bearer {after['access_token']}"}
    )
    assert userinfo.status_code == 200 and userinfo.json()["userName"] == "zhangsan"


def test_refresh_signs_out_a_user_who_lost_the_authorisation(client, enterprise, kit_v2):
    sign_in(client, enterprise, "lisi")
    delete = kit_v2(
        "authSync", flag=0, tenantId="t-1", appId="app-1", userList=[{"userName": "lisi"}], currentSyncTime=stamp()
    )
    assert delete.code == "000000"
    response = client.post("/sso/refresh")
    assert response.status_code == 401 and response.json()["error"] == "not_authorised"
    assert "_auth_user_id" not in client.session


def test_refresh_keeps_the_session_when_the_tenants_sign_in_service_cannot_be_reached(client, enterprise):
    """§8 step 6 "refresh while the user stays active": a network failure says nothing about the
    user, so it is a 503 to try again, not a sign-out."""
    from tenants.models import Tenant
    from tests.support.processes import free_port

    sign_in(client, enterprise, "zhangsan")
    Tenant.objects.filter(tenant_id="t-1").update(domain_name=f"http://127.0.0.1:{free_port()}")
    response = client.post("/sso/refresh")
    assert (response.status_code, response.json()["error"], response["Retry-After"]) == (503, "unreachable", "30")
    assert "_auth_user_id" in client.session and client.session["koogallery_sso"]["user_name"] == "zhangsan"
    Tenant.objects.filter(tenant_id="t-1").update(domain_name=enterprise.url)  # back again
    assert client.post("/sso/refresh").status_code == 200


def test_refresh_without_a_session_is_401(client):
    assert client.post("/sso/refresh").status_code == 401


def test_logout_clears_our_session_and_sends_the_browser_to_the_tenants_logout(client, enterprise):
    sign_in(client, enterprise, "zhangsan")
    response = client.get("/sso/logout")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == enterprise.url + "/api/v1/logout"
    assert parse_qs(location.query) == {"redirect_url": ["http://testserver/sso/signed-out"]}
    assert "_auth_user_id" not in client.session and "koogallery_sso" not in client.session
    upstream = requests.get(response["Location"], allow_redirects=False)
    assert upstream.status_code == 302 and upstream.headers["Location"] == "http://testserver/sso/signed-out"
    assert "signed out" in client.get("/sso/signed-out").content.decode()


def test_logout_without_a_session_lands_on_the_signed_out_page(client):
    response = client.get("/sso/logout")
    assert response["Location"] == "http://testserver/sso/signed-out"


def test_the_landing_page_needs_a_session(client):
    assert client.get("/sso/me")["Location"] == "/sso/login"


# --- a tenant's sign-in service that misbehaves, and hostile parameters ------------------------------

TOKEN_PATH, USERINFO_PATH = "/api/v1/oauth2/token", "/api/v1/oauth2/userinfo"


@pytest.mark.parametrize(
    "path,answer",
    [
        (TOKEN_PATH, b"[" * 5000 + b"]" * 5000),
        (TOKEN_PATH, b'{"access_token":"\xd1\x82\xd0\xbe\xd0\xba\xd0\xb5\xd0\xbd","expires_in":60}'),  # not ASCII
        (TOKEN_PATH, b'{"access_token":"abc","expires_in":Infinity}'),
        (USERINFO_PATH, b"[" * 5000 + b"]" * 5000),
        (USERINFO_PATH, b'{"userName":"zhang\\u0000san"}'),
        (USERINFO_PATH, b'{"userName":"\\ud800"}'),
    ],
    ids=["token: too deep", "token: not a bearer token", "token: Infinity", "userinfo: too deep", "userinfo: NUL",
         "userinfo: lone surrogate"],
)  # fmt: skip
def test_a_sign_in_service_answering_garbage_is_refused_with_502(client, enterprise, path, answer):
    enterprise.raw_answers[path] = answer
    response = sign_in(client, enterprise, "zhangsan")
    assert_refused(response, "upstream_error" if path == TOKEN_PATH else "no_user", status=502)


@pytest.mark.parametrize(
    "expires_in,kept", [("1e400", 7200), (float("inf"), 7200), (-5, 7200), (10**400, 7 * 24 * 3600), (3600, 3600)]
)
def test_an_expiry_out_of_any_sensible_range_is_bounded(expires_in, kept):
    from tenants import oneaccess

    assert oneaccess._tokens({"access_token": "abc", "expires_in": expires_in}).expires_in == kept


@pytest.mark.parametrize("path", ["/sso/callback", "/sso/login"])
def test_a_tenant_parameter_holding_nul_is_a_bad_request(client, enterprise, path):
    # config/guards.py answers before the view; sso._storable would refuse it as unknown too.
    client.raise_request_exception = False
    response = client.get(path, {"code": "x", "tenant": "t-1\x00"})
    assert response.status_code == 400 and "Traceback" not in response.content.decode()


def test_a_tenant_id_the_database_cannot_hold_names_no_tenant():
    from tenants import sso

    assert not sso._storable("t-1\x00") and not sso._storable("") and sso._storable("t-1")
