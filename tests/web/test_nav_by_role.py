"""The top bar offers each demo login only pages it can open: every link answers 200, and a grid
leader, whose scope is one grid, is not sent to the pages that work on whole communities."""

import re

import pytest
from django.contrib.auth import get_user_model

NAV = re.compile(r'<nav class="topnav">(.*?)</nav>', re.S)


def nav_links(client) -> list[str]:
    html = client.get("/").content.decode()
    return re.findall(r'href="([^"]+)"', NAV.search(html).group(1))


@pytest.mark.parametrize("username", ["admin", "street", "community", "grid", "planner"])
def test_every_page_in_the_top_bar_opens(demo, client, username):
    client.force_login(get_user_model().objects.get(username=username))
    links = nav_links(client)
    assert links
    for url in links:
        assert client.get(url).status_code == 200, (username, url)


def test_a_grid_leader_gets_the_gaps_map_instead_of_community_pages(demo, client):
    client.force_login(get_user_model().objects.get(username="grid"))
    assert nav_links(client) == ["/m/", "/analytics/map"]
    client.force_login(get_user_model().objects.get(username="community"))
    assert {"/planning/", "/people/centers/", "/analytics/"} <= set(nav_links(client))


def test_a_grid_leaders_dashboard_says_why_it_has_no_indicators(demo, client):
    """It offered the community holding the grid, whose indicators the API then refused (403)."""
    client.force_login(get_user_model().objects.get(username="grid"))
    html = client.get("/analytics/").content.decode()
    assert "没有完整的社区" in html and 'href="/analytics/map"' in html
    assert (
        'id="an-code"' not in html and "dashboard.js" not in html
    )  # no area selector, no API call


def test_the_dashboards_month_field_shows_the_month_it_draws(demo, client):
    from django.utils import timezone

    client.force_login(get_user_model().objects.get(username="community"))
    month = timezone.localdate().strftime("%Y-%m")
    assert f'name="month" value="{month}"' in client.get("/analytics/").content.decode()
    html = client.get("/analytics/", {"month": "2026-01"}).content.decode()
    assert 'name="month" value="2026-01"' in html


def test_every_staff_page_has_the_same_top_bar_with_the_current_page_marked(demo, client):
    """The audit log, the import and the centers pages showed only a link back to the map."""
    client.force_login(get_user_model().objects.get(username="admin"))
    pages = nav_links(client)
    for url in ("/audit/", "/dataio/import", "/people/centers/"):
        html = client.get(url).content.decode()
        nav = NAV.search(html).group(1)
        assert re.findall(r'href="([^"]+)"', nav) == ["/", *pages], url
        assert f'href="{url}" aria-current="page"' in nav


def test_a_grid_leaders_gaps_map_opens_on_their_grid(demo, client):
    """It opened on the whole street's communities, the grid a corner of it."""
    import json

    from apps.people.scope import user_scope

    leader = get_user_model().objects.get(username="grid")
    client.force_login(leader)
    html = client.get("/analytics/map").content.decode()
    config = json.loads(re.search(r'id="gaps-config"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert config["within"] == user_scope(leader).area_prefixes[0] and len(config["within"]) == 15
    client.force_login(get_user_model().objects.get(username="admin"))
    html = client.get("/analytics/map").content.decode()
    config = json.loads(re.search(r'id="gaps-config"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert config["within"] == ""  # everything: no single area to open on
