"""report.html's settings packed one at a time (judges.report.page_settings) and spooled
(judges.report.page_reuse): the same entries, letters and texts as packing them all at once."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

import judges.report.page_settings as page_settings_module
from judges.core.errors import ConfigError
from judges.core.types import frames_label
from judges.report.html_page import json_for_script
from judges.report.page_reuse import data_pieces, pack
from judges.report.page_settings import PageSettings, page_settings, setting_rows
from judges.report.verdict_packing import HUMAN_CODES, outcomes, replies, round_column

CHOICES = ["video_0", "video_1", "tie", None]


def _table(seed: int = 0, n_pairs: int = 30) -> tuple[pl.DataFrame, pl.Series]:
    """A page's verdict table: 2 judges x 2 dimensions x frames 1, 4 and every frame, rows
    shuffled, a few nulls, VLM-like replies (some repeated) and errors; the pairs' order is
    not the verdicts'."""
    rng = np.random.default_rng(seed)
    pair_ids = [f"pair-{i}" for i in rng.permutation(n_pairs)]
    rows = []
    dims = ("aesthetics", "helpfulness")
    humans = {d: {p: CHOICES[int(rng.integers(0, 4))] for p in pair_ids} for d in dims}
    for judge in ("psnr", "gpt"):
        for dim in dims:
            human = humans[dim]  # a pair's label in a dimension, whichever judge
            for frames in (1, None, 4):
                for p in rng.permutation(pair_ids)[: n_pairs - 3].tolist():  # some pairs left
                    k = int(rng.integers(0, 5))
                    rows.append(
                        {
                            "pair_id": p,
                            "judge": judge,
                            "dimension": dim,
                            "frames": frames,
                            "winner": CHOICES[k % 4],
                            "status": "error" if k == 4 else "ok",
                            "human": human[p],
                            "score_0": float(rng.standard_normal()) if k else None,
                            "score_1": float(rng.standard_normal()),
                            "confidence": float(rng.random()) if judge == "gpt" else None,
                            "confidence_kind": "probability" if judge == "gpt" else None,
                            "error": "timeout" if k == 4 else None,
                            "raw": json.dumps({"text": f"reply {k}"}) if judge == "gpt" else None,
                        }
                    )
    order = rng.permutation(len(rows))
    table = pl.DataFrame([rows[i] for i in order])
    cast = {c: pl.Categorical for c in ("judge", "dimension", "winner", "status", "human")}
    return table.cast(cast), pl.Series(pair_ids)  # type: ignore[arg-type]


def _all_at_once(verdicts: pl.DataFrame, pair_ids: pl.Series) -> tuple[dict, list, list]:
    """The packing as it was: a filter and a sort per setting, every entry held in a list."""
    index = {p: i for i, p in enumerate(pair_ids.to_list())}
    verdicts = verdicts.with_columns(
        pl.col("pair_id").replace_strict(index, return_dtype=pl.Int64).alias("_pair")
    )
    humans: dict[str, str] = {}
    for (dim,), part in verdicts.group_by(["dimension"], maintain_order=True):
        letters = ["."] * len(index)
        for p, h in part.select("_pair", "human").unique("_pair", keep="first").iter_rows():
            letters[p] = HUMAN_CODES.get(h, ".") if h else "."
        humans[str(dim)] = "".join(letters)
    texts: dict[str, int] = {}
    settings = []
    keys = verdicts.select("judge", "dimension", "frames").unique(maintain_order=True)
    for judge, dim, frames in keys.iter_rows():
        same = pl.col("frames").is_null() if frames is None else pl.col("frames") == frames
        part = verdicts.filter((pl.col("judge") == judge) & (pl.col("dimension") == dim) & same)
        part = part.sort("_pair", maintain_order=True)
        reply = replies(part, texts)
        settings.append(
            {
                "judge": judge,
                "dimension": dim,
                "frames": frames_label(frames),
                "n": frames,
                "p": np.diff(part["_pair"].to_numpy(), prepend=0).tolist(),
                "o": outcomes(part),
                "c": round_column(part["confidence"]),
                "ck": part["confidence_kind"].drop_nulls().first(),
                "s0": round_column(part["score_0"]),
                "s1": round_column(part["score_1"]),
                "r": reply if any(r >= 0 for r in reply) else None,
            }
        )
    return humans, settings, list(texts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_settings_made_one_at_a_time_are_the_entries_packed_all_at_once(seed):
    table, pair_ids = _table(seed)
    humans, settings, texts = page_settings(table, pair_ids)
    want_humans, want_settings, want_texts = _all_at_once(table, pair_ids)
    assert isinstance(settings, PageSettings) and len(settings) == 12
    assert humans == want_humans and texts == want_texts
    assert list(settings) == want_settings
    assert list(settings) == want_settings  # iterated again: the same entries
    assert texts and any(s["r"] for s in want_settings)  # the replies were exercised
    # As the page writes it: member by member, the same text as the list's.
    assert json_for_script({"settings": settings}) == json_for_script({"settings": want_settings})


def test_setting_rows_by_comparison_by_sort_and_by_chunks_agree(monkeypatch):
    table, _ = _table(3)
    want = [(key, rows.tolist()) for key, rows in setting_rows(table)]
    expected = table.with_row_index("row").group_by(
        ["judge", "dimension", "frames"], maintain_order=True
    )
    assert want == [((str(j), str(d), f), part["row"].to_list()) for (j, d, f), part in expected]
    monkeypatch.setattr(page_settings_module, "_FEW", 0)  # many settings: one sort
    assert [(key, rows.tolist()) for key, rows in setting_rows(table)] == want
    monkeypatch.setattr(page_settings_module, "_CHUNK", 7)  # keys coded 7 rows at a time
    assert [(key, rows.tolist()) for key, rows in setting_rows(table)] == want
    assert setting_rows(table.head(0)) == []
    # Text columns (a merged report's) and nulls anywhere: null is a value of its own.
    nulls = pl.DataFrame(
        {
            "judge": ["a", None, "b", "a"],
            "dimension": ["x", "x", None, "x"],
            "frames": [1, None, 2, 1],
        }
    )
    for frame in (nulls, nulls.cast({"judge": pl.Categorical, "dimension": pl.Categorical})):
        assert [(key, rows.tolist()) for key, rows in setting_rows(frame)] == [
            (("a", "x", 1), [0, 3]),
            ((None, "x", None), [1]),
            (("b", None, 2), [2]),
        ]


def test_a_verdict_of_a_pair_not_in_the_pairs_table_is_named_with_the_count():
    table, pair_ids = _table(4)
    known = pair_ids.filter(pair_ids != "pair-7")
    first = table.with_row_index("row").filter(pl.col("pair_id") == "pair-7")
    with pytest.raises(ConfigError, match=rf"run-x: {first.height} verdict\(s\) name pairs not"):
        page_settings(table, known, "run-x")
    # The first in the table's order is named, whichever setting it is in.
    table = table.with_columns(
        pl.when(pl.int_range(pl.len()) == table.height - 1)
        .then(pl.lit("stray"))
        .otherwise(pl.col("pair_id"))
        .alias("pair_id")
    )
    with pytest.raises(ConfigError, match=r"\(first: 'pair-7'\)"):
        page_settings(table, known, "run-x")
    with pytest.raises(ConfigError, match=r"1 verdict\(s\).*\(first: 'stray'\)"):
        page_settings(table.filter(pl.col("pair_id") != "pair-7"), known, "run-x")


def test_a_pair_listed_twice_is_named():
    table, pair_ids = _table(3)
    twice = pl.concat([pair_ids, pair_ids[:1]])
    with pytest.raises(ConfigError, match=rf"run-x: pairs.parquet lists pair '{pair_ids[0]}'"):
        page_settings(table, twice, "run-x")


def test_packed_texts_spooled_to_a_file_read_back_as_the_whole_page_data():
    table, pair_ids = _table(5)
    humans, settings, texts = page_settings(table, pair_ids)
    data = {"run_id": "r", "humans": humans, "settings": settings, "texts": texts}
    _, want_settings, _ = _all_at_once(table, pair_ids)
    whole = {"run_id": "new", "humans": humans, "settings": want_settings, "texts": texts}
    body = io.StringIO()
    head = pack(data, body)
    assert list(data) == ["run_id"]  # the kept fields were taken out as they were written
    assert head["order"] == ["run_id", "humans", "settings", "texts"]
    assert sum(head["lengths"].values()) == len(body.getvalue())
    body.seek(0)
    assert "".join(data_pieces(head, {"run_id": "new"}, body)) == json_for_script(whole)
    body.seek(0)
    body.truncate(len(body.getvalue()) - 5)  # cut short after it was packed: an error, never
    body.seek(0)  # a page with part of its data
    with pytest.raises(ValueError, match="cut short"):
        "".join(data_pieces(head, {"run_id": "new"}, body))


def test_a_kept_entry_pruned_after_its_check_is_packed_afresh(tmp_path, monkeypatch):
    # Another run may prune the cache between the check and the read: the page is packed anew.
    from judges.report import page_reuse

    data = {"run_id": "r", "overview": [1, "<"]}
    body = io.StringIO()
    head = pack(dict(data), body)
    gone = {**head, "path": tmp_path / "pruned.data", "start": 0}
    monkeypatch.setattr(page_reuse, "kept_packed", lambda store, key: gone)
    made = []

    def make():
        made.append(1)
        return dict(data)

    with page_reuse.page_data(tmp_path, "k", make, {"run_id": "new"}, tmp_path) as pieces:
        text = "".join(pieces)
    assert made == [1] and text == json_for_script({"run_id": "new", "overview": [1, "<"]})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_trimming_gives_freed_heap_memory_back_to_the_system():
    # Freed blocks below a block still in use stay with the process until trimmed.
    script = """
import gc, sys
from judges.core.memory import _malloc_trim, trim_free_memory
if _malloc_trim() is None:
    print("none"); sys.exit()
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
blocks = [bytearray(64 * 1024) for _ in range(3000)]  # ~190 MB in the heap, not mmapped
for b in blocks:
    b[::4096] = b"x" * len(b[::4096])  # touched: resident
keep = bytearray(64 * 1024)  # above them: the heap's top stays in use
del blocks; gc.collect()
before = rss()
trim_free_memory()
print(before - rss())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    if out == "none":
        pytest.skip("this C library has no malloc_trim")
    assert int(out) > 100_000  # KB: most of the 190 MB freed went back
