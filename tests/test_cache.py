from __future__ import annotations

import hashlib
import os
import threading

from cache_rows import count_entries
from judges.cache.store import Store, default_cache_dir, file_sha256, stable_hash


def test_put_get_roundtrip_and_persistence(tmp_path):
    db = tmp_path / "sub" / "c.sqlite"
    with Store(db) as store:
        store.put("ns", "k", {"a": [1, 2.5, None], "b": "x"})
        assert store.get("ns", "k") == {"a": [1, 2.5, None], "b": "x"}
        assert store.get("other", "k") is None
        store.put("ns", "k2", 3)
        assert store.get_many("ns", ["k", "k2", "nope"]) == {
            "k": {"a": [1, 2.5, None], "b": "x"},
            "k2": 3,
        }
        assert count_entries(db, "ns") == 2
    with Store(db) as again:  # committed on every put
        assert again.get("ns", "k")["b"] == "x"


def test_get_many_beyond_sqlite_variable_limit(tmp_path):
    with Store(tmp_path / "c.sqlite") as store:
        for i in range(1200):
            store.put("ns", f"k{i}", i)
        got = store.get_many("ns", [f"k{i}" for i in range(1300)])
        assert len(got) == 1200 and got["k1199"] == 1199


def test_file_hash_is_content_hash_and_tracks_changes(tmp_path):
    f = tmp_path / "v.bin"
    f.write_bytes(b"abc")
    with Store(tmp_path / "c.sqlite") as store:
        assert store.file_hash(f) == hashlib.sha256(b"abc").hexdigest() == file_sha256(f)
        g = tmp_path / "copy.bin"
        g.write_bytes(b"abc")
        assert store.file_hash(g) == store.file_hash(f)  # a moved dataset still hits
        f.write_bytes(b"abcd")
        os.utime(f, ns=(1, 1))
        assert store.file_hash(f) == hashlib.sha256(b"abcd").hexdigest()


def test_thread_safety(tmp_path):
    with Store(tmp_path / "c.sqlite") as store:

        def work(t):
            for i in range(50):
                store.put("ns", f"{t}-{i}", i)
                assert store.get("ns", f"{t}-{i}") == i

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert count_entries(tmp_path / "c.sqlite", "ns") == 200


def test_stable_hash_and_default_dir(monkeypatch, tmp_path):
    assert stable_hash({"b": 1, "a": 2}) == stable_hash({"a": 2, "b": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    monkeypatch.setenv("JUDGES_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("JUDGES_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "t2v-judges"


def test_two_processes_opening_one_new_cache_together_both_get_it(tmp_path):
    # Switching a new database to WAL answers "database is locked" at once instead of
    # waiting: before the retry, one of two runs starting together on a new cache was refused
    # (10 of 15 such races here).
    import subprocess
    import sys
    import time

    code = (
        "import sys, time\n"
        "from judges.cache.store import Store\n"
        "start = float(sys.argv[2])\n"
        # Asleep until 50 ms before the start, then a spin: both open the cache within a
        # millisecond, without burning a core each for the rest of the second.
        "time.sleep(max(0.0, start - 0.05 - time.time()))\n"
        "while time.time() < start: pass\n"
        "Store(sys.argv[1]); print('ok')\n"
    )
    for trial in range(4):
        path = tmp_path / str(trial) / "cache.sqlite"
        start = str(time.time() + 1.0)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path), start],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [(p.returncode, o.strip()) for p, (o, _) in zip(procs, outs, strict=True)] == [
            (0, "ok"),
            (0, "ok"),
        ], [e for _, e in outs]
