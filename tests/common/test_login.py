from django.contrib.auth import get_user_model

from apps.common.models import LoginFailure


def _user():
    return get_user_model().objects.create_user("lockme", password="right-password-123")


def test_login_page_is_chinese_and_logs_in(db, client):
    _user()
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and "登录" in page.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "lockme", "password": "right-password-123"}
    )
    assert response.status_code == 302


def test_repeated_failures_lock_the_account_out_even_with_the_right_password(db, client, settings):
    _user()
    for _ in range(5):
        assert (
            client.post("/accounts/login/", {"username": "lockme", "password": "wrong"}).status_code
            == 200
        )
    assert LoginFailure.objects.filter(username="lockme").count() == 5
    locked = client.post(
        "/accounts/login/", {"username": "lockme", "password": "right-password-123"}
    )
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "登录失败次数过多" in locked.content.decode()


def test_a_successful_login_clears_earlier_failures(db, client):
    _user()
    for _ in range(3):
        client.post("/accounts/login/", {"username": "lockme", "password": "wrong"})
    assert (
        client.post(
            "/accounts/login/", {"username": "lockme", "password": "right-password-123"}
        ).status_code
        == 302
    )
    assert not LoginFailure.objects.filter(username="lockme").exists()


def test_protected_admin_redirects_anonymous_users(db, client):
    assert client.get("/admin/").status_code == 302
