"""A run's replies kept on disk (judges.cache.replies): read back exactly, written to
verdicts.parquet row for row, read by the statistics as from a table holding them, and embedded
in report.html within a budget."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import judges.cache.replies as replies_module
import judges.cache.segments as segments_module
import judges.report.page_settings as page_settings_module
import judges.report.reply_budget as budget_module
import judges.report.verdict_file as verdict_file
from judges.cache.replies import RAW_REF, Replies, spill, with_raw
from judges.cache.segments import VerdictSegments
from judges.report.page_settings import page_settings
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement
from judges.run.run_replies import reply_tables
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.calibration import position_bias
from judges.stats.repeats import repeats_table


@pytest.fixture(autouse=True, params=["memory", "file"])
def storage(request, monkeypatch):
    """Every test twice: replies held in memory (a run's small replies) and in the file."""
    if request.param == "file":
        monkeypatch.setattr(replies_module, "MEMORY_BYTES", -1)
        monkeypatch.setattr(replies_module, "WRITE_ROWS", 3)  # a batch written in slices
    return request.param


@pytest.mark.parametrize("run_bytes", [0, 256])  # long replies one by one; short ones as runs
def test_replies_read_back_in_any_order_with_nulls_and_multibyte_text(
    storage, run_bytes, monkeypatch
):
    monkeypatch.setattr(replies_module, "RUN_REPLY_BYTES", run_bytes)
    rng = np.random.default_rng(0)
    texts = [None if k % 5 == 0 else f"reply {k} é—✓ " + "x" * int(rng.integers(0, 40))
             for k in range(300)]  # fmt: skip
    replies = Replies()
    refs = pl.concat([replies.add(pl.Series(texts[a : a + 37])) for a in range(0, 300, 37)])
    assert refs.null_count() == 60 and len(replies) == 240
    assert replies.bytes == sum(len(t.encode()) for t in texts if t is not None)
    order = rng.permutation(300)
    assert replies.take(refs.gather(order)).to_list() == [texts[k] for k in order]
    kept = [t for t in texts if t is not None]
    assert replies.containing("—✓ xxx")[:, 0].tolist() == ["—✓ xxx" in t for t in kept]
    assert replies.on_disk == (storage == "file")


@pytest.mark.parametrize("search_bytes", [1, 1 << 20])
@pytest.mark.parametrize("newline", [False, True])
def test_replies_far_apart_or_with_newlines_read_one_by_one(
    storage, newline, search_bytes, monkeypatch
):
    # Refs spread over many replies (with SEARCH_BYTES 1, a read from the first to the last
    # is more than 4x what is asked for) or replies holding a newline (the file's separator)
    # are read reply by reply instead of as one run: the texts are the same either way.
    monkeypatch.setattr(replies_module, "SEARCH_BYTES", search_bytes)
    texts = [
        f"reply {k}" + ("\nsecond line" if newline and k % 7 == 0 else "") for k in range(3000)
    ]
    replies = Replies()
    replies.add(pl.Series(texts))
    far = pl.Series([2999, None, 0, 1500, 2999])
    assert replies.take(far).to_list() == [texts[2999], None, texts[0], texts[1500], texts[2999]]
    near = pl.Series(list(range(10, 40)))
    assert replies.take(near).to_list() == texts[10:40]
    assert replies.containing("second")[:, 0].sum() == (429 if newline else 0)
    for bad in ("0\nsecond", "\n", ""):  # the file's separator, or nothing: both storages refuse
        with pytest.raises(ValueError, match="non-empty, one line"):
            replies.containing(bad)


def test_reads_cut_short_by_the_system_are_read_on(storage, monkeypatch):
    # One read may return fewer bytes than asked (Linux: at most ~2 GiB a read): every read of
    # the file here returns at most 5 bytes, and every reply still comes back whole.
    import os

    real = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, at: real(fd, min(n, 5), at))
    texts = [f"reply {k} ✓" for k in range(50)]
    replies = Replies()
    replies.add(pl.Series(texts))
    assert replies.take(pl.Series(range(50))).to_list() == texts
    assert replies.containing("9 ✓")[:, 0].tolist() == ["9 ✓" in t for t in texts]


def test_closed_replies_say_so(storage):
    replies = Replies()
    refs = replies.add(pl.Series(["a", "b"]))
    replies.close()
    for use in (lambda: replies.add(pl.Series(["c"])), lambda: replies.take(refs),
                lambda: replies.containing("a")):  # fmt: skip
        with pytest.raises(ValueError, match="closed"):
            use()


def test_replies_move_to_the_file_when_they_outgrow_memory(monkeypatch):
    monkeypatch.setattr(replies_module, "MEMORY_BYTES", 40)
    replies = Replies()
    first = replies.add(pl.Series(["aaaa", None, "bbbb"]))  # 8 bytes + 16 each: 40, in memory
    assert not replies.on_disk
    second = replies.add(pl.Series(["ccc✓"]))  # 14 + 48 bytes: all of them to the file
    assert replies.on_disk and replies.bytes == 14
    third = replies.add(pl.Series(["dd"]))
    refs = pl.concat([third, second, first])
    assert replies.take(refs).to_list() == ["dd", "ccc✓", "aaaa", None, "bbbb"]
    assert replies.containing("c✓", "a").tolist() == [
        [False, True], [False, False], [True, False], [False, False]
    ]  # fmt: skip


def _stuff(cache, tag: str) -> dict[str, tuple[str, str, int | None]]:
    """Give every cached verdict a distinct reply naming it; reply -> (pair_key, dim, frames)."""
    made = {}
    segments = VerdictSegments(cache / "cache.segments")
    for folder in segments.folders():
        for path in segments.files(folder.name):
            table = pl.read_parquet(path)
            raws = []
            for key, dim, frames in table.select("pair_key", "dimension", "frames").rows():
                text = json.dumps({"replies": [{"text": f"{tag} {key} {dim} {frames} é✓"}]})
                made[text] = (key, dim, frames)
                raws.append(text)
            table.with_columns(raw=pl.Series(raws, dtype=pl.String)).write_parquet(path)
    return made


def test_a_rerun_writes_the_cache_s_replies_to_verdicts_parquet_row_for_row(
    tmp_path, monkeypatch, storage
):
    def run(run_id):
        config = AgreementConfig(
            judges=[JudgeRequest("psnr")], frames=[1, 2], out=tmp_path / "out", run_id=run_id,
            cache_dir=tmp_path / "cache", progress=False, report=None, figures=False,
        )  # fmt: skip
        return run_agreement(config, log=lambda _: None)

    run("first")
    stuffed = _stuff(tmp_path / "cache", "said")
    # Small batches: the lookup, the reply file and the writer each cross many batches.
    monkeypatch.setattr(segments_module, "BATCH_ROWS", 7)
    monkeypatch.setattr(replies_module, "SEARCH_BYTES", 50)
    monkeypatch.setattr(verdict_file, "BATCH_ROWS", 11)
    monkeypatch.setattr(verdict_file, "BATCH_BYTES", 1)  # batches of BATCH_ROWS
    result = run("again")
    assert result.judges[0].cached == result.verdicts.height == len(stuffed) == 96
    # The table holds each reply's number, not its text.
    assert "raw" not in result.verdicts.columns
    assert result.verdicts[RAW_REF].null_count() == 0
    on_disk = pl.read_parquet(result.run_dir / "verdicts.parquet")
    assert sorted(on_disk["raw"].to_list()) == sorted(stuffed)  # every reply, once
    # The run's own table with its replies read back is the file, row for row.
    assert result.verdicts_with_raw()["raw"].to_list() == on_disk["raw"].to_list()
    if result.replies.on_disk and Path("/proc/self/fd").is_dir():  # Linux: where the file is
        where = os.readlink(f"/proc/self/fd/{result.replies._file.fileno()}")
        assert where.startswith(str(tmp_path / "cache"))  # beside the cache, not in /tmp
    key_of_pair: dict[str, str] = {}
    for pair_id, dim, frames, raw in on_disk.select("pair_id", "dimension", "frames", "raw").rows():
        key, stored_dim, stored_frames = stuffed[raw]  # the reply stored for this very verdict
        assert (stored_dim, stored_frames) == (dim, frames)
        assert key_of_pair.setdefault(pair_id, key) == key
    held = with_raw(result.verdicts, result.replies)["raw"].to_list()
    assert held == on_disk.filter(pl.col("control") == "none")["raw"].to_list()


def _reply_table(n: int) -> pl.DataFrame:
    """Verdicts of a judge asked in both orders and of a judge asked 3 times, with replies."""
    rng = np.random.default_rng(1)
    choice = ("video_0", "video_1")
    rows = []
    for k in range(n):
        pair, prompt = f"p{k % (n // 2)}", f"q{k % 7}"
        a, b = (choice[int(x)] for x in rng.integers(0, 2, 2))
        both = {
            "order": "both",
            "replies": [
                {"order": "video_0 first", "winner": a},
                {"order": "video_1 first", "winner": b},
            ],
        }
        samples = {"repeats": 3, "samples": [choice[int(x)] for x in rng.integers(0, 2, 3)]}
        human = choice[int(rng.integers(0, 2))] if k % 9 else None
        for judge, raw in (("both", both), ("k3", samples), ("plain", None)):
            rows.append({
                "pair_id": pair, "prompt_id": prompt, "judge": judge, "dimension": "aesthetics",
                "frames": 1 + k % 2, "winner": a, "human": human,
                "raw": json.dumps(raw) if raw is not None else None,
            })  # fmt: skip
    return pl.DataFrame(rows).with_columns(match=pl.col("winner") == pl.col("human"))


def test_repeats_and_position_bias_from_replies_on_disk_equal_those_from_memory(monkeypatch):
    table = _reply_table(240)
    stats = BootstrapConfig(resamples=200, seed=3)
    expected = (repeats_table(table, stats), position_bias(table, stats))
    assert expected[0].height == 2 and expected[1].height == 2  # frames 1 and 2, each
    monkeypatch.setattr(replies_module, "SEARCH_BYTES", 200)  # many reads, whole replies each
    replies = Replies()
    spilled = spill(table, replies)
    assert "raw" not in spilled.columns
    got = reply_tables(spilled, replies, stats)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.equals(theirs, null_equal=True)


def _page_table() -> pl.DataFrame:
    return pl.DataFrame({
        "pair_id": ["q", "p", "q", "p"], "judge": ["j"] * 4, "dimension": ["d"] * 4,
        "frames": [1, 1, 2, 2], "human": ["video_0", None, "video_0", None],
        "raw": [json.dumps({"replies": [{"text": f"reasoning number {k} ✓"}]}) for k in range(3)]
        + [None],
        "error": [None, None, None, "timeout"], "winner": ["video_1", "tie", "video_0", None],
        "status": ["ok", "ok", "ok", "error"], "confidence": [0.5, None, 0.7, None],
        "confidence_kind": ["m", None, "m", None], "score_0": [1.0, 2.0, 3.0, None],
        "score_1": [None] * 4,
    }, schema_overrides={"score_1": pl.Float64})  # fmt: skip


def test_the_page_reads_replies_from_disk_as_from_the_table(monkeypatch):
    table, ids = _page_table(), pl.Series(["p", "q"])
    humans, settings, texts = page_settings(table, ids)
    monkeypatch.setattr(page_settings_module, "_REPLY_ROWS", 1)  # a row's replies at a time
    replies = Replies()
    humans2, settings2, texts2 = page_settings(spill(table, replies), ids, reply_file=replies)
    assert (humans2, texts2, list(settings2)) == (humans, texts, list(settings))
    # In page order: each setting's rows by pair (p before q); frames 2's p failed.
    assert texts == ["reasoning number 1 ✓", "reasoning number 0 ✓", "error: timeout",
                     "reasoning number 2 ✓"]  # fmt: skip


def test_replies_over_the_budget_are_cut_with_a_note_and_kept_in_full_in_the_file(
    tmp_path, monkeypatch
):
    table, ids = _page_table(), pl.Series(["p", "q"])
    _, _, texts = page_settings(table, ids, cut=9)
    assert texts == ["reasoning … [cut]", "error: ti … [cut]"]  # equal cut texts: one entry

    def run(run_id):
        config = AgreementConfig(
            judges=[JudgeRequest("gpt4o", {"base_url": "mock"})], dimensions="aesthetics",
            frames=[2], limit=6, out=tmp_path / "out", run_id=run_id,
            cache_dir=tmp_path / "cache", progress=False, figures=False,
        )  # fmt: skip
        return run_agreement(config, log=lambda _: None)

    full = run("full")
    info = json.loads((full.run_dir / "run.json").read_text())["report_replies"]
    size = full.replies.bytes
    assert info == {"budget_bytes": 20_000_000, "replies_bytes": size, "cut_to_bytes": None}
    page = (full.run_dir / "report.html").read_text()
    assert "Replies are cut" not in page and "[cut]" not in page
    n = len(full.replies)
    monkeypatch.setattr(budget_module, "REPLY_BUDGET_BYTES", 30 * n)  # 30 bytes a reply
    cut = run("cut")  # from the cache: the page packed anew, not the kept uncut one
    info = json.loads((cut.run_dir / "run.json").read_text())["report_replies"]
    # 30 bytes a reply, less the 10 of " … [cut]": 20.
    assert info == {"budget_bytes": 30 * n, "replies_bytes": size, "cut_to_bytes": 20}
    page = (cut.run_dir / "report.html").read_text()
    assert "Replies are cut to their first 20 bytes each" in page
    shown = json.loads(page.split('id="report-data">')[1].split("</script>")[0])["texts"]
    assert shown and all(len(t.encode()) <= 30 for t in shown)  # within the budget, each
    # A page of both runs: their replies together decide the cut (twice as many, 15 bytes
    # each: 5 bytes of text), not the first run's "in full".
    from judges.report.html_report import write_merged_html_report
    from judges.report.merging import merge_runs

    dirs = [full.run_dir, cut.run_dir]
    merged = write_merged_html_report(dirs, merge_runs(dirs), tmp_path / "merged")
    assert "Replies are cut to their first 5 bytes each" in merged.read_text()
    # The file keeps every reply in full, as the uncut run's does.
    raws = [pl.read_parquet(r.run_dir / "verdicts.parquet")["raw"] for r in (full, cut)]
    assert raws[0].equals(raws[1]) and raws[0].str.len_bytes().sum() == size


@pytest.mark.parametrize("batch", [1, 3, 100])
def test_verdicts_parquet_is_written_a_batch_at_a_time_with_every_reply(tmp_path, batch):
    table = _reply_table(10).with_columns(pl.col("judge", "dimension").cast(pl.Categorical))
    replies = Replies()
    path = tmp_path / "v.parquet"
    verdict_file.write_verdicts(path, spill(table, replies), replies, batch=batch)
    read = pl.read_parquet(path)
    assert read.columns == table.columns
    assert read.equals(table.with_columns(pl.col("judge", "dimension").cast(pl.String)))


@pytest.mark.parametrize("search_bytes", [1, 3, 7, 1 << 20])
def test_containing_finds_a_text_only_inside_one_reply(monkeypatch, search_bytes):
    # "ab" + "cd" back to back in the file read "abcd": "bc" spans two replies and is in
    # neither; "xabc" holds it. Reads of 1, 3 and 7 bytes cut the file between other replies.
    monkeypatch.setattr(replies_module, "SEARCH_BYTES", search_bytes)
    replies = Replies()
    replies.add(pl.Series(["ab", "cd", None, "xabc", "", "bcbc", "é bc", "bc"]))
    # The last reply starts with "bc" right after one that holds it: the search goes on from
    # the end of the reply it found, not past the next one's start.
    assert replies.containing("bc", "é").tolist() == [
        [False, False], [False, False], [True, False], [False, False], [True, False],
        [True, True], [True, False],
    ]  # fmt: skip
    assert Replies().containing("bc").shape == (0, 1)


def test_stored_batches_read_every_row_once_and_end_on_row_groups(tmp_path, monkeypatch):
    # Two files in row groups of 4 rows; a first batch of 2 rows, then batches of up to 6 rows
    # that end on a row group's boundary (a batch ending inside a group makes the next one
    # decode it again); the second file is read with the size already learnt.
    import judges.cache.segment_batches as batches

    monkeypatch.setattr(batches, "FIRST_ROWS", 2)
    monkeypatch.setattr(batches, "ROW_GROUP", 4)
    files = []
    for k, n in enumerate((15, 3)):
        path = tmp_path / f"seg-{k}.parquet"
        pl.DataFrame({"a": range(100 * k, 100 * k + n)}).write_parquet(path, row_group_size=4)
        files.append(path)
    got = [b["a"].to_list() for b in batches.stored_batches(files, ["a"], 6)]
    assert got == [[0, 1], [2, 3, 4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14], [100, 101, 102]]
