"""Outside a transaction the gap kinds' statements run on worker threads, each on its own connection
(apps.analytics.gaps._kind_rows); the listing is the same as the one built kind by kind inside a
transaction, sentences in the caller's language included."""

import threading

import pytest
from django.db import transaction
from django.utils import translation

from apps.analytics import gaps
from tests.issues.conftest import ensure_seeded


@pytest.mark.django_db(transaction=True)
def test_concurrent_listing_equals_the_sequential_one(monkeypatch):
    ensure_seeded()
    threads = set()
    rows_in_thread = gaps._rows_in_thread

    def spy(key, params):
        threads.add(threading.get_ident())
        return rows_in_thread(key, params)

    monkeypatch.setattr(gaps, "_rows_in_thread", spy)
    with translation.override("en"):
        concurrent = gaps.gap_items(tier=5)
        with transaction.atomic():
            sequential = gaps.gap_items(tier=5)
    assert threads and threading.get_ident() not in threads  # the first ran on the workers
    assert len(threads) <= gaps.WORKERS
    assert concurrent == sequential
    assert len({it["kind"] for it in concurrent}) >= 3
    far = [it for it in concurrent if it["kind"] == "station_far"]
    assert far and all(it["explanation"].startswith("Building ") for it in far)  # in English
