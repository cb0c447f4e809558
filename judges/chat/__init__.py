"""Talking to OpenAI-compatible servers, knowing nothing of judges.

The chat-completions client (response cache, retries, counters), K samples of a request
(``samples``: ``n`` or K calls, each sample cached), the spending cap, prices and
token estimates, the offline stand-in for a server (``mock``: a fixed rule, not a model), and
the Batch API (its files and the runner that submits, follows and ingests batches).
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "ChatClient": "client",
    "ChatReply": "client",
    "ChatStats": "client",
    "Endpoint": "client",
    "call_samples": "samples",
    "Budget": "budget",
    "BudgetExhausted": "budget",
    "CostPlan": "pricing",
    "Price": "pricing",
    "price_for": "pricing",
    "BatchOptions": "batch_files",
    "BatchRunner": "batch",
    "MOCK": "mock",
    "NOT_A_MODEL": "mock",
    "is_mock": "mock",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
