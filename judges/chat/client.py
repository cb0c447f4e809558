"""A chat-completions client that knows nothing of judges: cache, budget, retries, counters.

:class:`ChatClient` sends a request body to any OpenAI-compatible endpoint through
``AsyncOpenAI`` and owns everything around the call:

- the response cache: every reply is committed under a key of the exact request (endpoint,
  a caller-given version tag, the body with its images), so a rerun never pays twice; failed
  calls are not cached;
- the spending cap: a call reserves its worst-case cost before it is sent and settles to the
  actual cost after (:class:`judges.chat.budget.Budget`, shared by the run's API judges);
- retries and timeouts (the ``openai`` client's own, honouring Retry-After), and dropping
  optional parameters a server rejects (``logprobs``, ``seed``, ``response_format``),
  remembered for later calls; a rejected ``n`` (several samples per request) is remembered too,
  and :mod:`judges.chat.samples` asks once per sample instead;
- error mapping: a wrong key, no access or an unknown model stops the run
  (:class:`ConfigError`); any other failure is one failed call;
- counters (:class:`ChatStats`): HTTP requests, paid calls, cached replies, this client's spend.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from judges.cache.store import Store, stable_hash
from judges.chat.budget import Budget, BudgetStop
from judges.chat.inflight import Claims
from judges.chat.mock import is_mock, mock_transport
from judges.core.errors import ConfigError

RESPONSES = "responses"
# Parameters some OpenAI-compatible servers reject; dropped (and remembered) on a 400 naming them.
OPTIONAL_PARAMS = ("logprobs", "top_logprobs", "seed", "response_format")
_NAMES_N = re.compile(r"""(?:['"`]n['"`]|\bparameter:?\s+n\b|\bn\s+(?:is|must|not|>|=))""")
"""A 400 naming ``n`` (several choices per request), which some servers reject."""
OVER_BUDGET = "over_budget"
"""Batch outcome of a request whose batch was not created: it would have exceeded the cap."""


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and how to authenticate.

    Attributes:
        base_url: OpenAI-compatible endpoint (``None``: the OpenAI API).
        api_key_env: Environment variable holding the key; ``none`` for keyless servers.
        timeout: Seconds per request before it is retried.
        max_retries: Retries per request (429, 5xx, timeouts, connection errors).

    """

    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout: float = 120.0
    max_retries: int = 4

    @property
    def key_env(self) -> str | None:
        """The key's variable, or ``None`` for a server that needs no key."""
        env = self.api_key_env
        return None if env is None or env.strip().lower() in ("", "none") else env


@dataclass
class ChatStats:
    """What a client did, for run.json and the console."""

    http_requests: int = 0
    sends: int = 0
    paid_calls: int = 0
    cached_responses: int = 0
    batch_answers: int = 0
    spent_usd: float = 0.0
    unsupported_params_dropped: list[str] = field(default_factory=list)

    @property
    def retries(self) -> int:
        """HTTP requests beyond the first of each call."""
        return max(0, self.http_requests - self.sends)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counters (``retries`` included)."""
        return {**asdict(self), "retries": self.retries}


@dataclass
class ChatReply:
    """One call's outcome: the reply as plain data (``None`` on failure), and what it cost."""

    data: dict[str, Any] | None
    cached: bool = False
    cost: float | None = None
    error: str | None = None


def reply_data(response: Any, index: int = 0) -> dict[str, Any]:
    """The parts of a chat-completion response a verdict needs, as plain data (one choice)."""
    choice = response.choices[index] if len(response.choices or ()) > index else None
    message = choice.message if choice else None
    logprobs = None
    if choice is not None and getattr(choice, "logprobs", None) and choice.logprobs.content:
        logprobs = [
            {
                "token": t.token,
                "logprob": t.logprob,
                "top": [{"token": a.token, "logprob": a.logprob} for a in (t.top_logprobs or [])],
            }
            for t in choice.logprobs.content
        ]
    usage = response.usage
    return {
        "id": response.id,
        "model": response.model,
        "content": message.content if message else None,
        "refusal": getattr(message, "refusal", None) if message else None,
        "finish_reason": choice.finish_reason if choice else None,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        if usage
        else None,
        "logprobs": logprobs,
    }


def describe_error(e: Exception) -> str:
    """``Type (HTTP status): message`` for an API error."""
    status = getattr(e, "status_code", None)
    message = getattr(e, "message", None) or str(e)
    return f"{type(e).__name__}" + (f" (HTTP {status})" if status else "") + f": {message}"


class ChatClient:
    """Cached, budgeted chat-completion calls to one endpoint.

    Args:
        endpoint: Where and how to call.
        owner: Who is calling, for error messages (a judge's label).
        version: Tag that makes cached replies of different prompt versions distinct.
        price: Object with ``cost(input_tokens, output_tokens)`` in USD, or ``None``.
        store: Response cache (``None``: no caching).
        budget: The run's spending cap.

    Example:
        >>> client = ChatClient(Endpoint(), "gpt4o", "v1", price, store, budget)  # doctest: +SKIP
        >>> reply = await client.call({"model": "gpt-4o", "messages": []}, 0.01)  # doctest: +SKIP

    """

    def __init__(
        self,
        endpoint: Endpoint,
        owner: str,
        version: str,
        price: Any = None,
        store: Store | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.owner = owner
        self.version = version
        self.price = price
        self.store = store
        self._claims: Claims | None = None
        self.budget = budget or Budget()
        self.stats = ChatStats()
        # Batch mode: answers come only from the cache, filled by batches; a miss is answered
        # with why its batch did not answer it (request key -> outcome), never sent online.
        self.batch_outcomes: dict[str, str] | None = None
        self._unsupported: set[str] = set()
        self._client: Any = None

    def check_ready(self) -> None:
        """Fail before any work when the API key is missing (naming the variable)."""
        env = self.endpoint.key_env
        if env is not None and not os.environ.get(env) and not is_mock(self.endpoint.base_url):
            where = f" for {self.endpoint.base_url}" if self.endpoint.base_url else ""
            raise ConfigError(
                f"judge {self.owner!r}: environment variable {env} is not set; export your API "
                f"key{where} in {env}, or pass --judge-arg api_key_env=NAME (api_key_env=none "
                "for a local server without keys)"
            )

    def open(self) -> None:
        """Create the async HTTP client (inside the event loop that will use it)."""
        import openai

        async def count(request: Any) -> None:
            self.stats.http_requests += 1

        env = self.endpoint.key_env
        key = os.environ.get(env, "") if env else "not-needed"
        base_url, transport = self.endpoint.base_url, {}
        if is_mock(base_url):  # answered in this process by a fixed rule, see judges.chat.mock
            base_url, transport = "http://mock.invalid/v1", {"transport": mock_transport()}
            key = "mock"
        try:
            self._client = openai.AsyncOpenAI(
                api_key=key,
                base_url=base_url,
                timeout=self.endpoint.timeout,
                max_retries=self.endpoint.max_retries,
                http_client=openai.DefaultAsyncHttpxClient(
                    event_hooks={"request": [count]}, **transport
                ),
            )
        except openai.OpenAIError as e:  # e.g. no key: the client refuses before any request
            raise ConfigError(
                f"judge {self.owner!r}: cannot create the client for "
                f"{self.endpoint.base_url or 'OpenAI'}: {e}"
            ) from None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def sendable(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` without the optional parameters this endpoint rejected.

        The cache key stays the full body's, so an answer does not depend on what the server
        accepted.
        """
        if not self._unsupported:
            return body
        return {k: v for k, v in body.items() if k not in self._unsupported}

    def note_unsupported(self, message: str, body: dict[str, Any] | None = None) -> list[str]:
        """Remember the optional parameters a 400 ``message`` names (in ``body``, if given).

        Returns them (also when already known: a call sent before another learnt it retries).

        Example:
            >>> client = ChatClient(Endpoint(), "judge", "v1")
            >>> client.note_unsupported("Unsupported parameter: 'logprobs'")
            ['logprobs', 'top_logprobs']

        """
        text = message.lower()
        named = [p for p in OPTIONAL_PARAMS if p in text and (body is None or p in body)]
        if _NAMES_N.search(text) and (body is None or "n" in body):
            named.append("n")  # samples per request: the caller falls back to one call each
        if "logprobs" in named:
            named.append("top_logprobs")
        self._unsupported.update(named)
        self.stats.unsupported_params_dropped = sorted(self._unsupported)
        return named

    def request_key(self, body: dict[str, Any], sample: int = 0) -> str:
        """Cache key of a request: endpoint, version tag and the exact body (images included).

        ``sample`` > 0 names another sample of the same request (``repeats``): a key of its
        own; sample 0 is the request's plain key.
        """
        key: dict[str, Any] = {"base_url": self.endpoint.base_url, "prompts": self.version}
        key["body"] = body
        if sample:
            key["sample"] = sample
        return stable_hash(key)

    def cached(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The cached reply to ``body``, if any (dry runs count these)."""
        return self.store.get(RESPONSES, self.request_key(body)) if self.store else None

    def cost(self, data: dict[str, Any]) -> float | None:
        """A reply's cost from its ``usage`` (``None`` without a price or usage).

        A batch answer (``data["batch"]``) is priced at the discount it was bought with; one of
        the ``shared_by`` choices of a request with ``n`` carries that share of its cost.
        """
        usage = data.get("usage")
        if not usage or self.price is None:
            return None
        cost = self.price.cost(usage["prompt_tokens"] or 0, usage["completion_tokens"] or 0)
        batch = data.get("batch")
        cost = cost / data.get("shared_by", 1)
        return cost * batch["discount"] if batch else cost

    async def call(self, body: dict[str, Any], estimate_usd: float) -> ChatReply:
        """Send ``body`` unless the cache answers it.

        Args:
            body: The chat-completion request.
            estimate_usd: Worst-case cost, reserved against the budget before sending.

        Raises:
            BudgetStop: the reservation would exceed the cap (nothing was sent).
            ConfigError: the key, access or model is wrong (every call would fail).

        """
        key = self.request_key(body)
        if self.store is not None:
            hit = self.store.get(RESPONSES, key)
            if hit is not None:
                self.stats.cached_responses += 1
                return ChatReply(hit, cached=True, cost=self.cost(hit))
        if self.batch_outcomes is not None:
            outcome = self.batch_outcomes.get(key, "no batch answered this request")
            if outcome == OVER_BUDGET:
                raise BudgetStop
            return ChatReply(None, error=outcome)
        claims = self.claims()
        if claims is not None:
            # Another run sharing this cache may be sending this very request: wait for its
            # reply rather than pay for it twice.
            store = self.store
            other = await claims.acquire(key, lambda: store.get(RESPONSES, key))
            if other is not None:
                self.stats.cached_responses += 1
                return ChatReply(other, cached=True, cost=self.cost(other))
        try:
            return (await self.send(key, body, estimate_usd))[0]
        finally:
            if claims is not None:
                claims.release(key)

    def claims(self) -> Claims | None:
        """This client's claims on requests in flight in its store (``None`` without one)."""
        if self._claims is None and self.store is not None:
            self._claims = Claims(self.store)
        return self._claims

    @property
    def unsupported(self) -> frozenset[str]:
        """The optional parameters this endpoint rejected (``n`` among them, if it did)."""
        return frozenset(self._unsupported)

    async def send(
        self, key: str, body: dict[str, Any], estimate_usd: float, more: tuple[str, ...] = ()
    ) -> list[ChatReply]:
        """Send one request (the cache had no answer) and cache the reply.

        ``more`` are the cache keys of choices 2, 3, ... of a request with ``n``: each choice is
        cached under its own key, carrying its share of the cost; the replies are the choices
        returned (fewer than asked if the server gave fewer).
        """
        import openai
        from openai.types.chat import ChatCompletion

        if not self.budget.reserve(estimate_usd):
            raise BudgetStop
        if self._client is None:
            self.open()
        send = self.sendable(body)
        actual = 0.0
        try:
            while True:
                self.stats.sends += 1
                try:
                    # The generic post keeps the client's retries, timeouts, Retry-After handling
                    # and typed errors, but skips the per-call transform of the typed
                    # parameters, which walks every image part (~5 ms a request).
                    response = await self._client.post(
                        "/chat/completions", body=send, cast_to=ChatCompletion
                    )
                    break
                except openai.BadRequestError as e:
                    named = self.note_unsupported(str(e), send)
                    if not named or "n" in named:
                        raise
                    send = self.sendable(send)
        except (
            openai.AuthenticationError,
            openai.PermissionDeniedError,
            openai.NotFoundError,
        ) as e:
            raise ConfigError(
                f"judge {self.owner!r}: {describe_error(e)} (endpoint "
                f"{self.endpoint.base_url or 'OpenAI'}, model {body.get('model')!r}); check the "
                f"key in {self.endpoint.key_env}, the model name and base_url"
            ) from None
        except (openai.APIError, openai.APIConnectionError) as e:
            return [ChatReply(None, error=describe_error(e))]
        except Exception as e:
            return [ChatReply(None, error=f"{type(e).__name__}: {e}")]
        else:
            keys = (key, *more)[: max(1, len(response.choices or ()))]
            out = []
            for index, choice_key in enumerate(keys):
                data = reply_data(response, index)
                if len(keys) > 1:
                    data["shared_by"] = len(keys)
                cost = self.cost(data)
                actual += cost or 0.0
                if self.store is not None:
                    self.store.put(RESPONSES, choice_key, data)
                out.append(ChatReply(data, cost=cost))
            self.stats.spent_usd += actual
            self.stats.paid_calls += 1
            return out
        finally:
            self.budget.settle(estimate_usd, actual)
