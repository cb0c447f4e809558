"""K samples of one chat request, each cached on its own, with ``n`` where the server takes it.

A stochastic judge asked ``repeats=K`` times wants K independent replies to one request.
Sample ``i`` is the request with ``seed + i`` (when it has a seed), and it is its own entry in
the response cache: sample 0's key is the plain request's (a run with one sample and a run with
K share it), sample ``i > 0`` adds ``"sample": i`` to the key. So a rerun or a resume after a
kill pays for no sample twice, and a rerun with a larger K pays only for the new samples.

The missing samples go out as one request with ``n`` (the images are paid once), asking for
the consecutive run of missing samples ``i0 .. i0+m-1`` with ``seed + i0``, so a server that
seeds choice ``j`` with ``seed + j`` answers sample ``i`` alike either way. When the server
rejects ``n`` (an HTTP 400 naming it), the client remembers that like any rejected parameter
and every later sample is its own call; a server that returns fewer choices than asked has the
rest asked one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from judges.chat.client import RESPONSES, ChatClient, ChatReply


def sample_key(client: ChatClient, body: dict[str, Any], index: int) -> str:
    """Cache key of sample ``index`` of ``body`` (sample 0: the request's own key).

    Example:
        >>> from judges.chat.client import Endpoint
        >>> client = ChatClient(Endpoint(), "judge", "v1")
        >>> sample_key(client, {"model": "m"}, 0) == client.request_key({"model": "m"})
        True
        >>> sample_key(client, {"model": "m"}, 1) == sample_key(client, {"model": "m"}, 0)
        False

    """
    return client.request_key(body, index)


def sample_body(body: dict[str, Any], index: int, n: int = 1) -> dict[str, Any]:
    """The request sent for samples ``index .. index+n-1``: ``seed + index``, and ``n`` if > 1.

    Example:
        >>> sample_body({"model": "m", "seed": 0}, 2, n=3)
        {'model': 'm', 'seed': 2, 'n': 3}

    """
    out = dict(body)
    if index and out.get("seed") is not None:
        out["seed"] = out["seed"] + index
    if n > 1:
        out["n"] = n
    return out


def missing_samples(client: ChatClient, body: dict[str, Any], k: int) -> list[int]:
    """Indices of the first ``k`` samples of ``body`` the response cache lacks (dry runs)."""
    store = client.store
    if store is None:
        return list(range(k))
    return [i for i in range(k) if store.get(RESPONSES, sample_key(client, body, i)) is None]


def sends_for(client: ChatClient, missing: list[int]) -> int:
    """Requests :func:`call_samples` sends for the ``missing`` samples (one with ``n`` if it can).

    Example:
        >>> from judges.chat.client import Endpoint
        >>> client = ChatClient(Endpoint(), "judge", "v1")
        >>> sends_for(client, [2, 3, 4]), sends_for(client, [0, 2]), sends_for(client, [])
        (1, 2, 0)

    """
    if len(missing) > 1 and _consecutive(missing) and "n" not in client.unsupported:
        return 1
    return len(missing)


def _consecutive(indices: list[int]) -> bool:
    return bool(indices) and indices == list(range(indices[0], indices[0] + len(indices)))


async def call_samples(
    client: ChatClient, body: dict[str, Any], k: int, estimate: Callable[[int], float]
) -> list[ChatReply]:
    """``k`` samples of ``body``: cached ones from the cache, the rest bought and cached.

    Args:
        client: The chat client (its cache, budget, claims and remembered rejections).
        body: The request.
        k: Samples wanted.
        estimate: Worst-case USD of one request returning ``m`` choices (input once, ``m``
            outputs), reserved against the budget before it is sent.

    Returns:
        One reply per sample, in sample order (``data`` is ``None`` for a failed one).

    Raises:
        BudgetStop: a request would exceed the cap (samples already bought stay cached).

    Example:
        >>> replies = await call_samples(client, body, 5, estimate)  # doctest: +SKIP

    """
    if k == 1:
        return [await client.call(body, estimate(1))]
    keys = [sample_key(client, body, i) for i in range(k)]
    got: dict[int, ChatReply] = {}
    store = client.store

    def cached(i: int) -> dict[str, Any] | None:
        return store.get(RESPONSES, keys[i]) if store is not None else None

    def take(i: int, data: dict[str, Any]) -> None:
        client.stats.cached_responses += 1
        got[i] = ChatReply(data, cached=True, cost=client.cost(data))

    for i in range(k):
        if (hit := cached(i)) is not None:
            take(i, hit)
    claims = client.claims()
    claimed: list[int] = []
    try:
        for i in [i for i in range(k) if i not in got]:
            # In index order, so two runs sharing a cache never wait on each other in a cycle.
            other = None
            if claims is not None:
                other = await claims.acquire(keys[i], lambda i=i: cached(i))
            if other is None and (other := cached(i)) is None:
                claimed.append(i)
            else:
                take(i, other)
        todo = [i for i in claimed if i not in got]
        if sends_for(client, todo) == 1 and len(todo) > 1:
            first = todo[0]
            replies = await client.send(
                keys[first], sample_body(body, first, len(todo)), estimate(len(todo)),
                tuple(keys[i] for i in todo[1:]),
            )  # fmt: skip
            if replies[0].data is not None:
                got.update(zip(todo, replies, strict=False))
            elif "n" not in client.unsupported:  # failed for another reason: every sample did
                got.update(dict.fromkeys(todo, replies[0]))
        for i in [i for i in todo if i not in got]:
            got[i] = (await client.send(keys[i], sample_body(body, i), estimate(1)))[0]
    finally:
        if claims is not None:
            for i in claimed:
                claims.release(keys[i])
    return [got[i] for i in range(k)]
