"""``report.html``: one offline page to read a run and watch where judges and people differ.

:func:`write_html_report` turns a run folder's files (see :mod:`judges.report.report_data`,
:mod:`judges.report.harm_report_data`) into one HTML page (:mod:`judges.report.html_page`);
:func:`write_merged_html_report` does the same for runs merged by ``report.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from judges.cache.replies import Replies
from judges.core.errors import ConfigError
from judges.core.memory import trim_free_memory
from judges.report.harm_report_data import harm_report_data, read_items, write_harm_html_report
from judges.report.html_page import HtmlReportOptions, figures_data, render_page, video_entries
from judges.report.page_reuse import page_data, page_key
from judges.report.reply_budget import cut_note, reply_budget
from judges.report.report_data import read_pairs, read_tables, report_data, video_paths
from judges.report.run_folder import normal_verdicts, run_kind

__all__ = ["write_html_report", "write_merged_html_report", "write_run_report"]


def write_run_report(
    run_dir: Path,
    options: HtmlReportOptions | None,
    cache_dir: Path | None,
    log: Callable[[str], None],
    verdicts: pl.DataFrame | None = None,
    remember: bool = True,
    replies: Replies | None = None,
) -> Path | None:
    """``report.html`` at the end of a run: the run's files stay, whatever the page does.

    A page that cannot be built (a video library failing on a file, a full disk, a bug in
    the page's packing) is logged with the error and the command that rebuilds it, instead of
    discarding a finished run (hours of judging) for its view.
    ``options=None`` writes no page; ``verdicts``: the run's verdict table (as the file holds it),
    so the page does not read a second copy of it; ``remember=False`` (a run with
    ``--no-cache``) keeps nothing of the page under the cache folder; ``replies``: where the
    replies of a table with ``raw_ref`` are.
    """
    if options is None:
        return None
    trim_free_memory(collect=True)  # what the run freed, back before the page's peak
    opts = (
        options if options.cache_dir or cache_dir is None else replace(options, cache_dir=cache_dir)
    )
    opts = opts if remember else replace(opts, remember=False)
    try:
        return write_html_report(run_dir, options=opts, verdicts=verdicts, replies=replies)
    except Exception as e:  # the run's own files are written; only the view failed
        log(
            f"report.html not written ({type(e).__name__}: {e}); rebuild it with "
            "experiments/report.py --html RUN_DIR"
        )
        return None


def write_html_report(
    run_dir: Path,
    out: Path | None = None,
    options: HtmlReportOptions | None = None,
    verdicts: pl.DataFrame | None = None,
    replies: Replies | None = None,
) -> Path:
    """Write ``report.html`` for a run folder (into the folder, or ``out``).

    ``verdicts``: the folder's verdict table when the caller holds it (else it is read);
    ``replies``: where its replies are, when it holds ``raw_ref`` (:mod:`judges.cache.replies`).

    Returns:
        The path of the written page.

    Raises:
        ConfigError: not a run folder, or its pairs cannot be found.

    Example:
        >>> write_html_report(Path("results/my-run"))  # doctest: +SKIP
        PosixPath('results/my-run/report.html')
    """
    opts = options or HtmlReportOptions()
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if run_kind(run_dir) == "harm" or (run_dir / "harm_verdicts.parquet").is_file():
        return write_harm_html_report(run_dir, out, opts)
    if not (run_dir / "verdicts.parquet").is_file() or not info_path.is_file():
        raise ConfigError(
            f"{run_dir}: not a run folder (needs verdicts.parquet and run.json, from "
            "experiments/agreement.py or harm.py)"
        )
    info = json.loads(info_path.read_text())
    out_dir = Path(out) if out else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = read_pairs(run_dir, info)
    videos, notes = video_entries(video_paths(pairs), out_dir, info, opts)
    trim_free_memory()  # the decoding threads' heaps
    fresh = {
        "run_id": info.get("run_id", run_dir.name),
        "videos": videos,
        "figures": figures_data(run_dir),
        "notes": notes + cut_note(info.get("report_replies")),
    }
    # The packed verdicts are kept by what they are read from (judges.report.page_reuse).
    store = Path(opts.cache_dir) / "report_data" if opts.cache_dir and opts.remember else None
    key = page_key(run_dir, info) if store is not None else None

    def make() -> dict[str, Any]:
        data = report_data(run_dir, info, pairs, videos, read_tables(run_dir, verdicts), replies)
        return {**data, **fresh}

    with page_data(store, key, make, fresh, out_dir) as pieces:
        return render_page(fresh, out_dir / "report.html", opts.video_url_prefix, pieces)


def write_merged_html_report(
    run_dirs: Sequence[Path],
    table: pl.DataFrame,
    out: Path,
    options: HtmlReportOptions | None = None,
) -> Path:
    """``report.html`` for runs merged by :func:`~judges.report.run_folder.merge_runs`.

    ``table`` is the merged agreement table (``run_id`` column; a judge label two runs share
    reads ``label@run_id``); each run's verdicts are relabelled the same way, so the browser
    shows every run's settings side by side. Preference and harm runs alike (one kind at a
    time, as ``merge_runs`` takes them). Figures come from ``out/figures``.
    """
    opts = options or HtmlReportOptions()
    harm = run_kind(Path(run_dirs[0])) == "harm"
    parts, subject_tables, infos = [], [], []
    run_dirs = list({Path(d).resolve(): Path(d) for d in run_dirs}.values())  # as merge_runs
    seen: dict[str, int] = {}
    for run_dir in run_dirs:
        info = json.loads((Path(run_dir) / "run.json").read_text())
        infos.append(info)
        run_id = str(info.get("run_id", Path(run_dir).name))
        seen[run_id] = seen.get(run_id, 0) + 1
        if seen[run_id] > 1:  # two folders with one run id: merge_runs names the second id#2
            run_id = f"{run_id}#{seen[run_id]}"
        labels = table.filter(pl.col("run_id") == run_id)["judge"].unique().to_list()
        rename = {label.removesuffix("@" + run_id): label for label in labels}
        name = "harm_verdicts.parquet" if harm else "verdicts.parquet"
        verdicts = normal_verdicts(pl.read_parquet(Path(run_dir) / name))
        parts.append(verdicts.with_columns(pl.col("judge").replace(rename)))
        read = read_items if harm else read_pairs
        subject_tables.append(read(Path(run_dir), info))
    key = "item_id" if harm else "pair_id"
    subjects = pl.concat(subject_tables).unique(key, keep="first", maintain_order=True)
    frames = list(dict.fromkeys(f for info in infos for f in info.get("frames", [])))
    info = {
        **infos[0],
        "run_id": "merged: " + ", ".join(str(i.get("run_id", "")) for i in infos),
        "frames": frames,
    }
    out.mkdir(parents=True, exist_ok=True)
    verdicts = pl.concat(parts, how="diagonal_relaxed")
    if not harm and "raw" in verdicts.columns:  # all merged runs' replies decide the cut
        sizes = verdicts["raw"].drop_nulls().str.len_bytes()
        info["report_replies"] = reply_budget(int(sizes.sum()), len(sizes))
    if harm:
        paths = list(dict.fromkeys(subjects["video_path"]))
        videos, notes = video_entries(paths, out, info, opts)
        data = harm_report_data(Path(run_dirs[0]), info, subjects, videos, (verdicts, table))
    else:
        videos, notes = video_entries(video_paths(subjects), out, info, opts)
        merged = (verdicts, table, None)
        data = report_data(Path(run_dirs[0]), info, subjects, videos, merged)
    data["figures"] = figures_data(out)
    data["notes"] = notes + cut_note(info.get("report_replies"))
    return render_page(data, out / "report.html", opts.video_url_prefix)
