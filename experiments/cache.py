"""Look after the cache: list what it holds, verify every file, prune old verdicts.

Examples:
    python experiments/cache.py list                         # per judge fingerprint and API model
    python experiments/cache.py verify                       # read every file; exit 1 if damaged
    python experiments/cache.py prune --older-than 30 --dry-run
    python experiments/cache.py prune --judge psnr           # every psnr setting's verdicts
    python experiments/cache.py prune --fingerprint 8c1f2a   # one setting (a prefix is enough)
    python experiments/cache.py prune --older-than 90 --replies   # paid API replies too

Pruning deletes verdict segments only (they are recomputed when needed); the API replies in
cache.sqlite were paid for and go only when --replies is named too (with --older-than).

Exit codes: 0 done; 1 verify found damage; 2 a user error (no cache there, no filter).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from judges.cache.store import default_cache_dir
from judges.cli import HelpFormatter, run_main
from judges.core.errors import ConfigError
from judges.report.tables import to_markdown
from judges.run.cache_upkeep import fingerprints, models, prune, verify


def build_parser() -> argparse.ArgumentParser:
    """The command line of the cache command."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("action", choices=["list", "verify", "prune"])
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="the cache (default: as runs use)"
    )
    parser.add_argument("--older-than", type=float, metavar="DAYS", help="prune: unused for DAYS")
    parser.add_argument("--judge", help="prune: this judge's verdicts (its label or kind)")
    parser.add_argument("--fingerprint", help="prune: this fingerprint (or a prefix of it)")
    parser.add_argument(
        "--replies",
        action="store_true",
        help="prune: the paid API replies older than --older-than too",
    )
    parser.add_argument("--dry-run", action="store_true", help="prune: say what would go")
    return parser


def _when(stamp: float | None) -> str:
    return "-" if stamp is None else datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")


def _settings(settings: Any) -> str:
    text = "-" if settings is None else json.dumps(settings, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _list(path: Path) -> None:
    import polars as pl

    rows = fingerprints(path)
    if rows:
        table = [
            {
                "judge": r["judge"],
                "fingerprint": r["fingerprint"][:12],
                "settings": _settings(r["settings"]),
                "rows": r["rows"],
                "bytes": r["bytes"],
                "last used": _when(r["last_used"]),
                "quarantined": r["quarantined"],
            }
            for r in sorted(rows, key=lambda r: (r["judge"], -(r["last_used"] or 0)))
        ]
        print(f"verdicts ({path.with_suffix('.segments')}):")
        print(to_markdown(pl.DataFrame(table)))
    else:
        print("verdicts: none")
    replies = models(path)
    if replies:
        print(f"\nAPI replies ({path}; spend at the built-in list prices):")
        shown = [
            {**r, "spend_usd": "-" if r["spend_usd"] is None else round(r["spend_usd"], 4)}
            for r in replies
        ]
        print(to_markdown(pl.DataFrame(shown)))
    else:
        print("API replies: none")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cache command; returns the exit code."""
    args = build_parser().parse_args(argv)
    cache_dir = args.cache_dir or default_cache_dir()
    path = cache_dir / "cache.sqlite"
    if not path.exists() and not path.with_suffix(".segments").is_dir():
        raise ConfigError(f"no cache at {cache_dir}; pass the --cache-dir the runs used")
    if args.action == "list":
        _list(path)
        return 0
    if args.action == "verify":
        found = verify(path)
        for problem in found.problems:
            print(f"damaged: {problem}")
        print(f"{found.checked} file(s) read, {len(found.problems)} damaged")
        if found.problems:
            print(
                "a run of the judge moves a damaged segment or log aside and recomputes it; "
                "a run on a damaged cache.sqlite prints the steps that recover it"
            )
        return 1 if found.problems else 0
    if args.older_than is None and args.judge is None and args.fingerprint is None:
        raise ConfigError("prune: say what to prune: --older-than DAYS, --judge or --fingerprint")
    if args.replies and args.older_than is None:
        raise ConfigError(
            "prune --replies: replies are kept per request, not per judge; name --older-than DAYS"
        )
    done = prune(
        path,
        older_than_days=args.older_than,
        judge=args.judge,
        fingerprint=args.fingerprint,
        replies=args.replies,
        dry_run=args.dry_run,
    )
    verb = "would delete" if args.dry_run else "deleted"
    for row in done.folders:
        print(f"{verb} {row['judge']} {row['fingerprint'][:12]}: {row['rows']} verdict(s)")
    for folder in done.busy:
        print(f"skipped {folder}: a run is using it now")
    rows = sum(r["rows"] for r in done.folders)
    print(f"{verb} {rows} verdict(s) in {len(done.folders)} folder(s), {done.bytes} bytes")
    if args.replies:
        print(f"{verb} {done.replies} API reply(ies)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, None))
