"""Requests in flight, claimed across processes, so two runs sharing a cache never pay twice.

Two runs of one API judge on one cache (or a run and its resumed copy) ask for the same
requests. Before sending, a run claims the request's cache key in the store (one atomic insert);
a run that finds the key claimed by a live process waits for that process's reply to land in
the cache instead of sending its own. A claim whose process died (same machine, pid gone) or
that is older than :data:`STALE_S` (another machine) is taken over.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from judges.cache.store import Store

INFLIGHT = "inflight"
"""The store namespace of claims."""

STALE_S = 900.0
"""A claim from another machine older than this is taken over (its run is presumed gone)."""

POLL_S = 0.2

_HOST = socket.gethostname()


class Claims:
    """This process's claims on request keys in one store.

    Example:
        >>> claims = Claims(store)  # doctest: +SKIP
        >>> reply = await claims.acquire(key, lambda: store.get(RESPONSES, key))  # doctest: +SKIP

    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.mine = {"pid": os.getpid(), "host": _HOST, "run": uuid.uuid4().hex[:8]}

    def _live(self, claim: dict[str, Any]) -> bool:
        if claim.get("run") == self.mine["run"]:
            return True  # this run's own claim: another of its coroutines is sending
        if claim.get("host") != _HOST:
            return time.time() - float(claim.get("since", 0)) < STALE_S
        try:
            os.kill(int(claim["pid"]), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, KeyError, ValueError, TypeError):
            return True
        return True

    async def acquire(self, key: str, answered: Callable[[], Any | None]) -> Any | None:
        """Claim ``key``; or, while another live run holds it, wait for its reply.

        Returns:
            ``None`` once this run holds the claim and no reply is cached (it should send,
            then :meth:`release`), or the reply another run cached meanwhile.
        """
        while True:
            claim = {**self.mine, "since": time.time()}
            if self.store.put_new(INFLIGHT, key, claim):
                # The run that held the claim may have cached its reply and released the claim
                # after the caller last looked: look again before paying for it a second time.
                reply = answered()
                if reply is not None:
                    self.release(key)
                return reply
            held = self.store.get(INFLIGHT, key)
            if held is None:
                continue  # released meanwhile: try again
            if not self._live(held):
                if self.store.replace_if(INFLIGHT, key, held, claim):
                    return None
                continue
            await asyncio.sleep(POLL_S)
            reply = answered()
            if reply is not None:
                return reply

    def release(self, key: str) -> None:
        """Drop this run's claim on ``key`` (sent, failed or stopped)."""
        self.store.delete_many(INFLIGHT, [key])
