"""Claims on requests in flight: the window between a run's cache lookup and its claim."""

from __future__ import annotations

import asyncio

from judges.cache.store import Store
from judges.chat.inflight import INFLIGHT, Claims

RESPONSES = "test-responses"


def test_a_reply_cached_after_the_lookup_is_taken_not_paid_again(tmp_path):
    """Run B answered and released its claim after run A looked in the cache: A's claim
    succeeds, and A must take B's reply rather than send the request a second time."""
    with Store(tmp_path / "cache.sqlite") as store:
        assert store.get(RESPONSES, "k") is None  # A's lookup: a miss
        store.put(RESPONSES, "k", {"answer": "from B"})  # B caches its reply, holds no claim
        claims = Claims(store)
        got = asyncio.run(claims.acquire("k", lambda: store.get(RESPONSES, "k")))
        assert got == {"answer": "from B"}
        assert store.get(INFLIGHT, "k") is None  # the claim taken to look was dropped again


def test_a_free_key_with_no_reply_is_claimed_for_sending(tmp_path):
    with Store(tmp_path / "cache.sqlite") as store:
        claims = Claims(store)
        assert asyncio.run(claims.acquire("k", lambda: store.get(RESPONSES, "k"))) is None
        assert store.get(INFLIGHT, "k")["run"] == claims.mine["run"]
        claims.release("k")
        assert store.get(INFLIGHT, "k") is None
