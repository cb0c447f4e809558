"""List, follow and cancel the Batch API batches of VLM judges run with ``mode=batch``.

Batches are recorded in the cache a run used (``--cache-dir``, default as agreement.py's), with
the endpoint and the environment variable holding its key.

Examples:
    python experiments/batches.py list                      # every batch, newest last
    python experiments/batches.py follow                    # poll unfinished ones, cache answers
    python experiments/batches.py cancel --judge gpt4o      # cancel a judge's unfinished batches
    python experiments/batches.py cancel batch_abc123

Exit codes: 0 done; 2 a user error (unknown batch id, missing key).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from judges.cache.store import Store, default_cache_dir
from judges.chat.batch import BATCHES, BatchRunner
from judges.chat.batch_files import BatchOptions
from judges.chat.client import ChatClient, Endpoint
from judges.chat.pricing import Price
from judges.cli import HelpFormatter, run_main
from judges.core.errors import ConfigError
from judges.report.tables import to_markdown


def runner_for(store: Store, record: dict[str, Any], options: BatchOptions) -> BatchRunner:
    """A runner for a recorded batch, from what its record holds (for the batches command)."""
    endpoint = Endpoint(record["base_url"], record["api_key_env"])
    price = Price(*record["price"]) if record.get("price") else None
    chat = ChatClient(endpoint, record["judge"], "", price, store)
    return BatchRunner(chat, store, options, progress=True, log=print)


def build_parser() -> argparse.ArgumentParser:
    """The command line of the batches command."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("action", choices=["list", "follow", "cancel"])
    parser.add_argument("batch_ids", nargs="*", metavar="BATCH_ID", help="batches to act on")
    parser.add_argument("--judge", help="only this judge's batches (its label)")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="the cache the runs used (default: as runs)"
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=30.0, help="seconds between polls (follow)"
    )
    return parser


def select(records: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The records the arguments name; unknown batch ids are an error."""
    chosen = {
        shard: rec
        for shard, rec in records.items()
        if (args.judge is None or rec["judge"] == args.judge)
        and (not args.batch_ids or rec["batch_id"] in args.batch_ids)
    }
    known = {rec["batch_id"] for rec in records.values()}
    unknown = [b for b in args.batch_ids if b not in known]
    if unknown:
        raise ConfigError(
            f"no batch {', '.join(unknown)} in the cache {args.cache_dir or default_cache_dir()}; "
            "`python experiments/batches.py list` shows the batches it holds"
        )
    return chosen


def table(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per batch for ``list``."""
    rows = []
    for rec in records.values():
        rows.append(
            {
                "judge": rec["judge"],
                "batch": rec["batch_id"] or f"(uploaded {rec['input_file_id']})",
                "status": rec["status"] or rec["state"],
                "ingested": rec["state"] == "done",
                "requests": rec["requests"],
                "answered": rec.get("answered"),
                "failed": rec.get("failed"),
                "estimate_usd": round(rec["estimate_usd"], 4),
                "cost_usd": None if rec.get("cost_usd") is None else round(rec["cost_usd"], 4),
                "created": datetime.fromtimestamp(rec["created"], UTC).strftime("%Y-%m-%d %H:%M"),
                "endpoint": rec["base_url"] or "OpenAI",
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the batches command; returns the exit code."""
    import polars as pl

    args = build_parser().parse_args(argv)
    path = (args.cache_dir or default_cache_dir()) / "cache.sqlite"
    if not path.exists():
        raise ConfigError(f"no cache at {path}; pass the --cache-dir the runs used")
    with Store(path) as store:
        records = select(store.items(BATCHES), args)
        if args.action == "list":
            if not records:
                print("no batches")
                return 0
            print(to_markdown(pl.DataFrame(table(records))))
            return 0
        unfinished = {s: r for s, r in records.items() if r["state"] != "done"}
        if not unfinished:
            print("no unfinished batches")
            return 0
        options = BatchOptions(poll_seconds=args.poll_seconds)
        for shard, rec in unfinished.items():
            runner = runner_for(store, rec, options)
            if args.action == "cancel":
                print(f"{rec['batch_id']}: {runner.cancel(shard)}")
                continue
            rec = runner.create(shard)
            failed = runner.follow([shard]).get(shard, {})
            done = store.get(BATCHES, shard)
            print(
                f"{rec['batch_id']}: {done['status']}, {done['answered']} answer(s) cached, "
                f"{len(failed)} unanswered, {done['cost_usd']:.4f} USD"
            )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, None))
