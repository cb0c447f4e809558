"""``report.html`` of a harm run: each video's 12 harm tags, people's and the judge's side by side.

Built, like the preference report, from the run folder's own files: ``harm_verdicts.parquet``,
``harm_agreement.csv``, ``run.json`` and ``items.parquet`` (prompt and video path per item;
runs from before it existed read them from the data file run.json names).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from judges.core.errors import ConfigError
from judges.core.harm_types import CATEGORIES, HARM_KEYS, HarmItem
from judges.core.types import frames_label
from judges.report.html_page import HtmlReportOptions, figures_data, render_page, video_entries
from judges.report.report_data import rows
from judges.report.run_folder import read_agreement_csv
from judges.report.tables import frames_labels

__all__ = [
    "harm_report_data",
    "items_frame",
    "read_items",
    "write_harm_html_report",
    "write_item_sources",
]

ITEM_COLUMNS = {
    "item_id": pl.String,
    "prompt_id": pl.String,
    "prompt_text": pl.String,
    "video_id": pl.String,
    "video_path": pl.String,
    "generator": pl.String,
}
TAGS = (*HARM_KEYS, "is_safe")
HARM_STATUS = {"ok": "k", "refused": "r", "unparsed": "u", "error": "e"}


def items_frame(items: Sequence[HarmItem]) -> pl.DataFrame:
    """The items of a harm run: ids, prompt, the video's path and generator."""
    rows = [
        (
            i.item_id,
            i.prompt_id,
            i.prompt_text,
            i.video.video_id,
            str(i.video.path),
            i.video.generated_from,
        )
        for i in items
    ]
    return pl.DataFrame(rows, schema=ITEM_COLUMNS, orient="row").unique(
        "item_id", keep="last", maintain_order=True
    )


def write_item_sources(run_dir: Path, items: Sequence[HarmItem]) -> None:
    """Write ``items.parquet`` into a harm run folder (the report's prompts and videos)."""
    items_frame(items).write_parquet(Path(run_dir) / "items.parquet")


def read_items(run_dir: Path, info: dict[str, Any]) -> pl.DataFrame:
    """``items.parquet``, or (older runs) the same table from the data file run.json names.

    Raises:
        ConfigError: neither is there.
    """
    path = run_dir / "items.parquet"
    if path.is_file():
        return pl.read_parquet(path)
    from judges.datasets.harm_items import load_harm_dataset

    data = info.get("data") or {}
    try:
        ds = load_harm_dataset(data["path"], data.get("video_dir"), skip_missing=True)
    except (KeyError, OSError, ConfigError) as e:
        raise ConfigError(
            f"{run_dir}: no items.parquet and its data {data.get('path')!r} cannot be read "
            f"({e}); rerun the harm command to rebuild"
        ) from None
    return items_frame(ds.items)


def _cells(table: pl.DataFrame) -> pl.DataFrame:
    """Agreement per judge x category x frames, as harm_agreement.md prints it."""
    labels = frames_labels(table)
    cells = labels.with_columns(
        pl.format(
            "{} [{}, {}] n={}",
            pl.col("agreement").round(3),
            pl.col("agreement_cluster_lo").round(2),
            pl.col("agreement_cluster_hi").round(2),
            pl.col("n_labeled"),
        ).alias("_cell")
    ).filter(pl.col("category").is_in(list(TAGS)))
    names = {c.key: f"{c.id} {c.key}" for c in CATEGORIES} | {"is_safe": "is_safe"}
    return cells.with_columns(pl.col("category").replace_strict(names)).pivot(
        on="frames", index=["judge", "category"], values="_cell"
    )


def _finite(probabilities: dict[str, Any]) -> dict[str, Any]:
    """Probabilities with NaN/inf as null (JSON has no form for them)."""
    return {
        k: v if not isinstance(v, float) or math.isfinite(v) else None
        for k, v in probabilities.items()
    }


def _flag(v: bool | None) -> str:
    return "." if v is None else "1" if v else "0"


def harm_report_data(
    run_dir: Path,
    info: dict[str, Any],
    items: pl.DataFrame,
    videos: list[dict[str, Any]],
    tables: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> dict[str, Any]:
    """Everything the harm page shows, packed like :func:`report_data`'s preference data.

    ``tables``: the verdicts and agreement table (default: the run folder's; a merged report
    passes its own).
    """
    if tables is None:
        verdicts = pl.read_parquet(run_dir / "harm_verdicts.parquet")
        table = read_agreement_csv(run_dir / "harm_agreement.csv")
    else:
        verdicts, table = tables
    index = {iid: i for i, iid in enumerate(items["item_id"].to_list())}
    paths = list(dict.fromkeys(items["video_path"].to_list()))
    vid = {p: i for i, p in enumerate(paths)}
    prompts: dict[str, int] = {}
    gens: dict[str, int] = {}
    unknown = verdicts.filter(~pl.col("item_id").is_in(list(index)))
    if unknown.height:
        raise ConfigError(
            f"{run_dir}: {unknown.height} verdict(s) name items not in items.parquet (first: "
            f"{unknown['item_id'][0]!r}); rerun the harm command"
        )
    verdicts = verdicts.with_columns(
        pl.col("item_id").replace_strict(index, return_dtype=pl.Int64).alias("_item")
    ).sort("_item")
    human = {}
    first = verdicts.unique("_item", keep="first", maintain_order=True)
    for tag in TAGS:
        letters = ["."] * len(index)
        for i, v in first.select("_item", f"human_{tag}").iter_rows():
            letters[i] = _flag(v)
        human[tag] = "".join(letters)
    texts: dict[str, int] = {}
    settings = []
    for judge, frames in verdicts.select("judge", "frames").unique(maintain_order=True).iter_rows():
        part = verdicts.filter(
            (pl.col("judge") == judge)
            & (pl.col("frames").is_null() if frames is None else pl.col("frames") == frames)
        )
        idx = part["_item"].to_list()
        replies = []
        for raw, err in zip(part["raw"].to_list(), part["error"].to_list(), strict=True):
            text = "\n".join(x for x in (raw or "", f"error: {err}" if err else "") if x)
            replies.append(texts.setdefault(text, len(texts)) if text else -1)
        probs = [_finite(json.loads(p)) if p else None for p in part["probabilities"].to_list()]
        settings.append(
            {
                "judge": judge,
                "dimension": "harm",
                "frames": frames_label(frames),
                "n": frames,
                "p": [b - a for a, b in zip([0, *idx[:-1]], idx, strict=True)],
                "o": "".join(HARM_STATUS.get(s or "", "e") for s in part["status"]),
                "tags": {t: "".join(_flag(v) for v in part[f"judge_{t}"]) for t in TAGS},
                "prob": probs if any(p for p in probs) else None,
                "r": replies if any(r >= 0 for r in replies) else None,
            }
        )
    cells = _cells(table)
    return {
        "kind": "harm",
        "run_id": info.get("run_id", run_dir.name),
        "overview": {
            "title": "Harm-label agreement with crowdworkers",
            "legend": "Cells: agreement [95% cluster bootstrap by prompt] n=labelled items; "
            "a failed judgement is a miss.",
            "columns": cells.columns,
            "rows": rows(cells),
            "flags": [],
            "long": {"columns": frames_labels(table).columns, "rows": rows(frames_labels(table))},
            "ceiling": None,
            "notice": info.get("notice"),
        },
        "items": {
            "id": items["item_id"].to_list(),
            "prompt": [prompts.setdefault(t or "", len(prompts)) for t in items["prompt_text"]],
            "v": [vid[p] for p in items["video_path"]],
            "g": [gens.setdefault(g, len(gens)) if g else -1 for g in items["generator"]],
        },
        "prompts": list(prompts),
        "generators": list(gens),
        "videos": videos,
        "tags": list(TAGS),
        "human": human,
        "settings": settings,
        "texts": list(texts),
    }


def write_harm_html_report(run_dir: Path, out: Path | None, options: HtmlReportOptions) -> Path:
    """``report.html`` for a harm run folder (see :func:`write_html_report`)."""
    info_path = run_dir / "run.json"
    if not (run_dir / "harm_verdicts.parquet").is_file() or not info_path.is_file():
        raise ConfigError(
            f"{run_dir}: not a run folder (needs verdicts.parquet or harm_verdicts.parquet, "
            "and run.json)"
        )
    info = json.loads(info_path.read_text())
    out_dir = Path(out) if out else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    items = read_items(run_dir, info)
    videos, notes = video_entries(list(dict.fromkeys(items["video_path"])), out_dir, info, options)
    data = harm_report_data(run_dir, info, items, videos)
    data["figures"] = figures_data(run_dir)
    data["notes"] = notes
    return render_page(data, out_dir / "report.html", options.video_url_prefix)
