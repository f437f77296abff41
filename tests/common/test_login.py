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


def _change(client, old, new1, new2=None):
    return client.post(
        "/accounts/password/",
        {"old_password": old, "new_password1": new1, "new_password2": new2 or new1},
    )


def test_a_user_changes_their_password_and_stays_signed_in(db, client):
    user = _user()
    client.force_login(user)
    page = client.get("/")
    assert 'href="/accounts/password/"' in page.content.decode()  # the user's name links there
    page = client.get("/accounts/password/")
    assert page.status_code == 200 and "修改密码" in page.content.decode()
    # refusals name the field, in Chinese, and change nothing
    wrong = _change(client, "not-it", "a-new-passphrase-42")
    assert wrong.status_code == 200 and "旧密码不正确" in wrong.content.decode()
    mismatch = _change(client, "right-password-123", "a-new-passphrase-42", "another-one-42")
    assert "输入的两个密码不一致" in mismatch.content.decode()
    weak = _change(client, "right-password-123", "12345678")
    assert "这个密码太常见了" in weak.content.decode()
    user.refresh_from_db()
    assert user.check_password("right-password-123")
    # the change
    done = _change(client, "right-password-123", "a-new-passphrase-42")
    assert done.status_code == 302 and done["Location"] == "/accounts/password/done/"
    assert "密码已修改" in client.get(done["Location"]).content.decode()
    user.refresh_from_db()
    assert user.check_password("a-new-passphrase-42")
    assert client.session["_auth_user_id"] == str(user.pk)  # still signed in
    assert client.get("/accounts/password/").status_code == 200
    assert not LoginFailure.objects.filter(username="lockme").exists()  # the wrong one is forgiven
    # the audit log has the change, by the user
    from apps.audit.models import AuditEntry

    entry = AuditEntry.objects.filter(table_name="auth_user", row_pk=str(user.pk), op="UPDATE")
    entry = entry.order_by("-id").first()
    assert entry is not None and entry.actor == f"user:{user.pk}:lockme"
    assert entry.before["password"] != entry.after["password"]


def test_wrong_old_passwords_lock_the_password_page_too(db, client):
    user = _user()
    client.force_login(user)
    for _ in range(5):
        assert _change(client, "guess", "a-new-passphrase-42").status_code == 200
    locked = _change(client, "right-password-123", "a-new-passphrase-42")
    assert locked.status_code == 429 and "密码错误次数过多" in locked.content.decode()
    user.refresh_from_db()
    assert user.check_password("right-password-123")
    # and the login, for the same name
    client.logout()
    assert (
        client.post(
            "/accounts/login/", {"username": "lockme", "password": "right-password-123"}
        ).status_code
        == 429
    )


def test_the_password_page_needs_a_login(db, client):
    r = client.get("/accounts/password/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
