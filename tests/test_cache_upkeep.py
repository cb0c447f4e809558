"""experiments/cache.py and judges.run.cache_upkeep: list, verify, prune (real commands)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import make_dataset
from judges.cache.segments import VerdictSegments
from judges.cache.store import Store
from judges.chat.client import RESPONSES
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement
from judges.run.cache_upkeep import fingerprints, models

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "cache.py"
DAY = 86_400


def cache_cmd(cache: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def cache(tmp_path) -> Path:
    """Two psnr settings' verdicts (6 pairs x 2 frame counts each) and 3 paid replies."""
    data = make_dataset(tmp_path / "d", n_pairs=6)
    for compat in ("false", "true"):
        judge = JudgeRequest("psnr", {"safesora_compat": compat})
        run_agreement(
            AgreementConfig(
                [judge], frames=[1, 2], data=data, cache_dir=tmp_path / "c", progress=False
            )
        )
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    with Store(tmp_path / "c" / "cache.sqlite") as store:
        store.put_many(
            RESPONSES,
            [
                ("r1", {"model": "gpt-4o-2024-05-13", "usage": usage}),
                ("r2", {"model": "gpt-4o-2024-05-13", "usage": usage, "batch": {"discount": 0.5}}),
                ("r3", {"model": "my-local-vlm", "usage": usage}),
            ],
        )
    return tmp_path / "c"


def folder_of(cache: Path, compat: bool) -> Path:
    for row in fingerprints(cache / "cache.sqlite"):
        if row["settings"]["safesora_compat"] is compat:
            return cache / "cache.segments" / row["folder"]
    raise AssertionError("no such folder")


def age(folder: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    for path in folder.rglob("*"):
        os.utime(path, (stamp, stamp))


def test_list_per_fingerprint_and_per_model(cache):
    rows = sorted(fingerprints(cache / "cache.sqlite"), key=lambda r: str(r["settings"]))
    assert [(r["judge"], r["kind"], r["rows"], r["quarantined"]) for r in rows] == [
        ("psnr", "psnr", 12, 0),
        ("psnr", "psnr", 12, 0),
    ]
    assert [r["settings"]["safesora_compat"] for r in rows] == [False, True]
    for r in rows:
        folder = cache / "cache.segments" / r["folder"]
        assert r["bytes"] == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert r["fingerprint"].startswith(r["folder"]) and len(r["fingerprint"]) == 64
        assert time.time() - r["last_used"] < 600
    # gpt-4o-2024-05-13 at $5 / $15 per 1M tokens: 1000 in + 100 out = $0.0065, half in a batch.
    assert models(cache / "cache.sqlite") == [
        {"model": "gpt-4o-2024-05-13", "replies": 2, "spend_usd": pytest.approx(0.0065 * 1.5)},
        {"model": "my-local-vlm", "replies": 1, "spend_usd": None},
    ]
    listed = cache_cmd(cache, "list")
    assert listed.returncode == 0, listed.stderr
    assert "| psnr | " in listed.stdout and '{"safesora_compat": true' in listed.stdout
    assert "| gpt-4o-2024-05-13 | 2 | 0.0097 |" in listed.stdout  # 0.00975, rounded
    assert "| my-local-vlm | 1 | - |" in listed.stdout


def test_verify_reads_every_file_and_exits_1_on_damage(cache):
    clean = cache_cmd(cache, "verify")
    assert (clean.returncode, clean.stdout.splitlines()[-1]) == (0, "3 file(s) read, 0 damaged")
    (segment,) = folder_of(cache, True).glob("seg-*.parquet")
    segment.write_bytes(segment.read_bytes()[:100])
    broken = cache_cmd(cache, "verify")
    assert broken.returncode == 1
    assert f"damaged: {segment}: " in broken.stdout
    assert "3 file(s) read, 1 damaged" in broken.stdout
    assert segment.exists()  # verify moves nothing
    db = cache / "cache.sqlite"
    db.write_bytes(db.read_bytes()[:1000])
    assert "damaged: " + str(db) in cache_cmd(cache, "verify").stdout
    assert "Traceback" not in broken.stderr


def test_prune_by_age_dry_run_then_for_real_and_replies_only_when_named(cache):
    old, new = folder_of(cache, True), folder_of(cache, False)
    age(old, 40)
    dry = cache_cmd(cache, "prune", "--older-than", "30", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would delete psnr {old.name[:12]}: 12 verdict(s)" in dry.stdout
    assert "would delete 12 verdict(s) in 1 folder(s)" in dry.stdout
    assert old.is_dir() and new.is_dir()
    done = cache_cmd(cache, "prune", "--older-than", "30")
    assert "deleted 12 verdict(s) in 1 folder(s)" in done.stdout
    assert not old.exists() and new.is_dir()
    assert not [p for p in (cache / "cache.segments").iterdir() if p.name.startswith(".")]
    # Replies were paid for: untouched until named, and then only those older than DAYS.
    with Store(cache / "cache.sqlite") as store:
        assert len(store.items(RESPONSES)) == 3
    with sqlite3.connect(cache / "cache.sqlite") as conn:
        conn.execute("UPDATE entries SET created = ? WHERE key = 'r1'", (time.time() - 40 * DAY,))
    gone = cache_cmd(cache, "prune", "--older-than", "30", "--replies")
    assert "deleted 1 API reply(ies)" in gone.stdout
    with Store(cache / "cache.sqlite") as store:
        assert sorted(store.items(RESPONSES)) == ["r2", "r3"]


def test_prune_by_judge_or_fingerprint_and_what_is_refused(cache):
    keep, drop = folder_of(cache, False), folder_of(cache, True)
    fp = next(
        r["fingerprint"] for r in fingerprints(cache / "cache.sqlite") if r["folder"] == drop.name
    )
    by_fp = cache_cmd(cache, "prune", "--fingerprint", fp[:8])
    assert "deleted 12 verdict(s) in 1 folder(s)" in by_fp.stdout
    assert not drop.exists() and keep.is_dir()
    assert cache_cmd(cache, "prune", "--judge", "clip").stdout.endswith("0 folder(s), 0 bytes\n")
    for args, message in (
        ((), "say what to prune"),
        (("--judge", "psnr", "--replies"), "name --older-than DAYS"),
    ):
        refused = cache_cmd(cache, "prune", *args)
        assert refused.returncode == 2 and message in refused.stderr
    # A folder a live run is writing is skipped, and said so.
    segments = VerdictSegments(cache / "cache.segments")
    log = segments.open_log(keep.name)
    try:
        busy = cache_cmd(cache, "prune", "--judge", "psnr")
        assert f"skipped {keep.name}: a run is using it now" in busy.stdout and keep.is_dir()
    finally:
        log.close(remove=True)
    assert "deleted 12 verdict(s)" in cache_cmd(cache, "prune", "--judge", "psnr").stdout
    assert not keep.exists()
    missing = cache_cmd(cache.parent / "nowhere", "list")
    assert missing.returncode == 2 and "no cache at" in missing.stderr
