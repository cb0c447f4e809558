"""A damaged cache never stops a run: each kind of cache file truncated, zeroed, made garbage and
deleted in turn, through the real command (exit code, message, quarantine, verdicts)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from conftest import make_dataset
from judges.cache.commit_log import log_line, read_log
from judges.cache.damage import parse_log
from judges.cache.segments import VerdictSegments
from judges.cache.store import DamagedCacheError, Store

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"
DAMAGE = {
    "truncated": lambda p: os.truncate(p, p.stat().st_size // 2),
    "zeroed": lambda p: p.write_bytes(b"\0" * p.stat().st_size),
    "garbage": lambda p: p.write_bytes(bytes((i * 37 + 11) % 256 for i in range(p.stat().st_size))),
    "deleted": lambda p: p.unlink(),
}


def run(data: Path, cache: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quiet",
            "--judge",
            "psnr",
            "--frames",
            "1,2,4",
            "--data",
            str(data),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JUDGES_CACHE_DIR": str(cache)},
    )


def verdicts(run_dir: Path) -> list[tuple]:
    table = pl.read_parquet(Path(run_dir) / "verdicts.parquet")
    cols = ["pair_id", "dimension", "frames", "winner", "status", "score_0", "score_1"]
    return sorted(table.select(cols).rows(), key=str)


def run_dir(proc: subprocess.CompletedProcess) -> Path:
    line = next(x for x in proc.stdout.splitlines() if x.startswith("results: "))
    return Path(line.removeprefix("results: "))


def computed(proc: subprocess.CompletedProcess) -> int:
    line = next(x for x in proc.stdout.splitlines() if x.startswith("psnr: "))
    return int(line.split()[1])


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean run's verdicts and its cache, copied fresh for each damage."""
    root = tmp_path_factory.mktemp("clean")
    data = make_dataset(root / "d", n_pairs=6)
    first = run(data, root / "cache", root / "r")
    assert first.returncode == 0, first.stderr
    with Store(root / "cache" / "cache.sqlite") as store:  # replies paid for, as an API run has
        store.put_many("chat", [(f"reply-{i}", {"text": "Video 1" * 40}) for i in range(300)])
    return data, root / "cache", verdicts(run_dir(first))


def copy_cache(clean, tmp_path) -> tuple[Path, Path]:
    data, cache, _ = clean
    shutil.copytree(cache, tmp_path / "cache")
    (folder,) = (tmp_path / "cache" / "cache.segments").iterdir()
    return data, folder


def assert_no_traceback(proc):
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_segment_is_quarantined_and_recomputed(clean, tmp_path, damage):
    data, folder = copy_cache(clean, tmp_path)
    (segment,) = folder.glob("seg-*.parquet")
    DAMAGE[damage](segment)
    damaged = segment.read_bytes() if segment.exists() else None
    proc = run(data, tmp_path / "cache", tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert verdicts(run_dir(proc)) == clean[2]
    assert computed(proc) == 18  # 6 pairs x 3 frame counts: all it held, computed again
    if damage == "deleted":
        assert "damaged" not in proc.stderr and not (folder / "quarantine").exists()
    else:
        # Moved aside, never deleted, and said once, naming the file.
        (kept,) = (folder / "quarantine").iterdir()
        assert kept.name.startswith(segment.name) and kept.read_bytes() == damaged
        assert proc.stderr.count("is damaged") == 1
        assert f"warning: cache file {segment} is damaged" in proc.stderr
        assert "the verdicts it held will be computed again" in proc.stderr
    again = run(data, tmp_path / "cache", tmp_path / "r")  # and the cache is whole again
    assert (again.returncode, computed(again), again.stderr) == (0, 0, "")


def as_dead_log(folder: Path) -> Path:
    """Turn the segment into the commit log of a killed run (same verdicts, JSON lines)."""
    (segment,) = folder.glob("seg-*.parquet")
    rows = pl.read_parquet(segment)
    lines = [log_line(r[0], r[1], r[2:]) for r in rows.rows()]
    log = folder / "log-00000000000000000001-deadbeef.jsonl"
    log.write_text("\n".join(lines) + "\n")
    segment.unlink()
    return log


@pytest.mark.parametrize("damage", [*DAMAGE, "torn last line", "garbage line inside"])
def test_damaged_commit_log(clean, tmp_path, damage):
    data, folder = copy_cache(clean, tmp_path)
    log = as_dead_log(folder)
    text = log.read_text()
    if damage == "torn last line":  # a kill mid-write: skipped silently, the rest kept
        log.write_text(text[: len(text) - 40])
    elif damage == "garbage line inside":
        lines = text.splitlines()
        log.write_text("\n".join([*lines[:5], "\x00\x00garbage", *lines[5:]]) + "\n")
    else:
        DAMAGE[damage](log)
    # Verdicts the damaged log still holds whole: every line that parses, the last one too when
    # the cut fell just before its newline (a kill between a line and its "\n"), which a count
    # of newlines misses (the log's length varies with the latencies written in it).
    whole_lines = (
        sum(_parses(line) for line in log.read_bytes().splitlines()) if log.exists() else 0
    )
    proc = run(data, tmp_path / "cache", tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    assert_no_traceback(proc)
    assert verdicts(run_dir(proc)) == clean[2]
    if damage in ("deleted", "torn last line", "truncated"):
        # Cut short is how a killed run's log ends: what it lost is computed, silently.
        assert proc.stderr == ""
        assert computed(proc) == 18 - whole_lines
        assert not (folder / "quarantine").exists()
    else:
        (kept,) = (folder / "quarantine").iterdir()
        assert kept.name.startswith(log.name)
        assert proc.stderr.count("is damaged") == 1 and str(log) in proc.stderr
        assert computed(proc) == 18
    assert not list(folder.glob("log-*.jsonl"))  # folded into a segment (or moved aside)


def _parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), list)
    except ValueError:
        return False


def test_parse_log_tells_a_torn_line_from_damage():
    good = [json.dumps([str(i), None, *[None] * 3]) for i in range(3)]
    rows, bad = parse_log(("\n".join(good) + "\n").encode(), 5)
    assert (len(rows), bad) == (3, 0)
    rows, bad = parse_log(("\n".join(good) + '\n["3", nu').encode(), 5)  # torn: not damage
    assert (len(rows), bad) == (3, 0)
    rows, bad = parse_log(b"\0" * 200, 5)  # zeroes are damage, even as the last line
    assert (len(rows), bad) == (0, 1)
    rows, bad = parse_log((good[0] + "\n[1, 2]\n" + good[1] + "\n").encode(), 5)  # wrong width
    assert (len(rows), bad) == (2, 1)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_sqlite_stops_before_any_work_with_recovery_steps(clean, tmp_path, damage):
    data, _ = copy_cache(clean, tmp_path)
    db = tmp_path / "cache" / "cache.sqlite"
    DAMAGE[damage](db)
    damaged = db.read_bytes() if db.exists() else None
    proc = run(data, tmp_path / "cache", tmp_path / "r")
    assert_no_traceback(proc)
    if damage == "deleted":  # nothing to recover: a new file, verdicts from the segments
        assert proc.returncode == 0, proc.stderr
        assert verdicts(run_dir(proc)) == clean[2] and computed(proc) == 0
        return
    assert proc.returncode == 2
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    assert f"error: cache {db} is damaged" in proc.stderr
    assert f'  sqlite3 {db} ".recover" | sqlite3 {db.parent / "recovered.sqlite"}\n' in proc.stderr
    assert f"  mv {db} {db}.damaged\n" in proc.stderr
    assert f"  mv {db.parent / 'recovered.sqlite'} {db}\n" in proc.stderr
    assert "--ignore-damaged-cache" in proc.stderr
    assert db.read_bytes() == damaged  # never dropped, never written
    # Asked to, the run goes on with the response cache off; the file stays as it was.
    on = run(data, tmp_path / "cache", tmp_path / "r", "--ignore-damaged-cache")
    assert on.returncode == 0, on.stderr
    assert_no_traceback(on)
    assert on.stderr.count("is damaged") == 1 and "response cache off" in on.stderr
    assert verdicts(run_dir(on)) == clean[2] and computed(on) == 0  # segments still used
    assert db.read_bytes() == damaged


def test_verify_cache_finds_damage_opening_does_not(tmp_path):
    db = tmp_path / "cache.sqlite"
    with Store(db) as store:
        store.put_many("chat", [(f"k{i}", {"text": "x" * 400}) for i in range(400)])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    # Zero one leaf page in the middle: the file opens, only a full check (or a read of that
    # page) sees it.
    with open(db, "r+b") as fh:
        fh.seek(4096 * (pages // 2))
        fh.write(b"\0" * 4096)
    Store(db).close()  # opening reads the roots only
    with pytest.raises(DamagedCacheError, match=r"cache .*cache\.sqlite is damaged \("):
        Store(db, verify=True)
    said = []
    store = Store(db, verify=True, ignore_damage=True, warn=said.append)
    assert store.damaged and len(said) == 1 and "response cache off" in said[0]
    store.put("chat", "new", {"a": 1})  # in memory only
    assert store.get("chat", "new") == {"a": 1} and store.get("chat", "k1") is None
    store.close()
    # A read that meets the damaged page later stops with the steps, never a traceback.
    store = Store(db)
    with pytest.raises(DamagedCacheError, match=r"\.recover"):
        store.get_many("chat", [f"k{i}" for i in range(400)])
    store.close()
    if not recover_works(tmp_path):
        pytest.skip(
            "the installed sqlite3 command cannot .recover even a healthy database (3.40.1's "
            "'SQL logic error'); the printed recovery steps were not run"
        )
    # The steps as printed recover every reply the damaged page did not hold.
    with pytest.raises(DamagedCacheError) as error:
        Store(db, verify=True)
    message = str(error.value)
    steps = [line.strip() for line in message.splitlines() if line.startswith("  ")]
    for step in steps:
        subprocess.run(step, shell=True, check=True)
    with Store(db, verify=True) as store:
        found = store.get_many("chat", [f"k{i}" for i in range(400)])
    assert found and all(v == {"text": "x" * 400} for v in found.values())


def recover_works(tmp_path: Path) -> bool:
    """Whether this machine's sqlite3 command recovers a healthy database."""
    if shutil.which("sqlite3") is None:
        return False
    probe = tmp_path / "probe.sqlite"
    with sqlite3.connect(probe) as conn:
        conn.execute("CREATE TABLE t (a)")
        conn.execute("INSERT INTO t VALUES (1)")
    out = tmp_path / "probe-recovered.sqlite"
    subprocess.run(f'sqlite3 {probe} ".recover" | sqlite3 {out}', shell=True, check=False)
    try:
        with sqlite3.connect(out) as conn:
            return conn.execute("SELECT a FROM t").fetchall() == [(1,)]
    except sqlite3.Error:
        return False


def test_segments_api_reports_and_moves_each_damaged_file(tmp_path):
    segs = VerdictSegments(tmp_path / "s", warn=(said := []).append)
    fp = "f" * 64
    rows = pl.DataFrame(
        {"key": ["a", "b"], "pair_key": [None, None]},
        schema={"key": pl.String, "pair_key": pl.String},
    )
    from judges.cache.segments import SEGMENT_SCHEMA

    full = rows.with_columns(
        *(pl.lit(None, dtype=t).alias(c) for c, t in SEGMENT_SCHEMA.items() if c not in rows)
    ).with_columns(pl.lit("aesthetics").alias("dimension"))
    good = segs.append(fp, full)
    bad = segs.append(fp, full.with_columns(pl.Series("key", ["c", "d"])))
    bad.write_bytes(bad.read_bytes()[:-20])
    wanted = pl.DataFrame({"i": [0, 1, 2, 3], "key": ["a", "b", "c", "d"]})
    found = segs.lookup(fp, wanted, ["key"])
    assert found["key"].to_list() == ["a", "b"]
    assert len(said) == 1 and str(bad) in said[0]
    assert segs.files(fp) == [good] and segs.count(fp) == 2
    assert [p.name.split(".parquet")[0] for p in (segs.folder(fp) / "quarantine").iterdir()] == [
        bad.name.removesuffix(".parquet")
    ]
    assert read_log is not None  # the public reader still imports from its old place
