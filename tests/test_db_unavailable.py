"""While PostgreSQL cannot be reached, requests answer 503 with Retry-After (clients retry), not 500.

The database really is unreachable for the request: the connection is pointed at a closed port."""

import socket

import pytest
from django.db import connections
from django.test import Client


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_answers_503(settings, django_user_model):
    settings.DEBUG = False
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_user("desk", is_superuser=True))
    conn.close()
    conn.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        api = client.get("/api/issues?status=open")
        page = client.get("/")
        report = client.post(
            "/open311/v2/requests.json", {"service_code": "property", "lat": 1, "long": 1}
        )
    finally:
        conn.close()
        conn.settings_dict.update(saved)
    assert api.status_code == 503 and api["Retry-After"] == "10"
    assert api.json()["code"] == "unavailable"
    assert page.status_code == 503 and "数据库暂时不可用" in page.content.decode()
    assert report.status_code == 503
    # and once it is back, the same requests work again
    assert Client().get("/api/search?q=x").status_code == 200


@pytest.mark.django_db
def test_other_errors_stay_500(rf, settings):
    from apps.common.views import server_error

    settings.DEBUG = False
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(rf.get("/api/issues"))
    assert response.status_code == 500
