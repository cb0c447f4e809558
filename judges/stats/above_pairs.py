"""Questions above pairs: generator rankings and agreement by slice, from a run's verdicts.

Joins what the pairs know (each video's generator, the fields a slice is named by) to the
verdict table, then calls the pure statistics of :mod:`judges.stats.ranking_tables` and
:mod:`judges.stats.slices`. No dataset is special: a generator is a video's
``generated_from``; a slice field is looked up on the pair, then on its videos.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from judges.core.errors import ConfigError
from judges.core.types import Pair
from judges.stats.bootstrap import BootstrapConfig
from judges.stats.cluster_intervals import as_pair, mean_interval
from judges.stats.ranking import RankingConfig
from judges.stats.ranking_tables import (
    METRIC_BOUNDS,
    METRICS,
    Rankings,
    generator_rankings,
    win_rates,
)
from judges.stats.slices import MIN_SLICE_PAIRS, slice_table
from judges.stats.text_columns import texts

GENERATOR = "generator"
MISSING = "(missing)"
HUMAN_LOO = "human (leave-one-out)"


@dataclass
class AbovePairs:
    """What a run found above single pairs: rankings, and agreement by slice.

    Attributes:
        generators: ``generators.csv`` (None: no ranking was asked for or possible).
        ranking_agreement: ``ranking_agreement.csv``.
        slices: ``field -> (slice table, heterogeneity tests)``.
        files: ``field -> file stem`` of each slice table.
        win_rates: Each generator's win rate against each other, people and judges.
        skipped: Why no ranking was made, if it was not.
        method: The interval method's name.
        prior: The Bradley-Terry prior's precision.

    """

    generators: pl.DataFrame | None = None
    ranking_agreement: pl.DataFrame | None = None
    slices: dict[str, tuple[pl.DataFrame, pl.DataFrame]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    win_rates: pl.DataFrame | None = None
    skipped: str | None = None
    method: str = ""
    prior: float = 0.01


def generators_named(pairs: Sequence[Pair]) -> list[str]:
    """Distinct generators the pairs' videos name (``generated_from``), sorted."""
    return sorted(
        {g for p in pairs for g in (p.video_0.generated_from, p.video_1.generated_from) if g}
    )


def with_generators(verdicts: pl.DataFrame, pairs: Sequence[Pair]) -> pl.DataFrame:
    """The verdict table plus ``generator_0`` and ``generator_1`` (joined by pair id)."""
    gens = pl.DataFrame(
        [(p.pair_id, p.video_0.generated_from, p.video_1.generated_from) for p in pairs],
        schema={"pair_id": pl.String, "generator_0": pl.String, "generator_1": pl.String},
        orient="row",
    ).unique("pair_id", keep="last")
    return verdicts.join(gens, on="pair_id", how="left", maintain_order="left")


def rank_generators(
    verdicts: pl.DataFrame,
    pairs: Sequence[Pair],
    bootstrap: BootstrapConfig,
    config: RankingConfig | None = None,
    votes: pl.DataFrame | None = None,
) -> Rankings:
    """People's and every judge setting's generator ranking, and their rank agreement.

    With ``votes``, each annotator's ranking is also set against the ranking from the other
    annotators' votes (judge ``human:<annotator>``, the reference a pair's leave-one-out
    majority, no majority read as a tie), and a pooled row (``human (leave-one-out)``: the mean
    over annotators, its interval from the mean of their paired draws): the ranking-level
    human ceiling.
    """
    rows = with_generators(verdicts, pairs)
    result = generator_rankings(rows, bootstrap, config)
    if votes is None or votes.is_empty():
        return result
    from judges.stats.ceiling import leave_one_out

    loo = leave_one_out(votes).select(
        pl.concat_str(pl.lit("human:"), pl.col("annotator")).alias("judge"),
        "dimension",
        pl.lit(None, dtype=pl.Int64).alias("frames"),
        "pair_id",
        pl.col("choice").alias("winner"),
        pl.col("reference").fill_null("tie").alias("human"),
    )
    prompts = verdicts.select("pair_id", "prompt_id").unique("pair_id")
    loo = loo.join(prompts, on="pair_id", how="inner")
    humans = generator_rankings(with_generators(loo, pairs), bootstrap, config)
    pooled = []
    for dim in humans.agreement["dimension"].unique(maintain_order=True).to_list():
        part = humans.agreement.filter(pl.col("dimension") == dim)
        sampled = [d for k, d in humans.draws.items() if k[1] == dim]
        if part["kendall_tau"].is_null().all() or not len(part):
            continue
        row: dict[str, Any] = {
            "judge": HUMAN_LOO,
            "dimension": dim,
            "frames": None,
            "generators": part["generators"].max(),
            "pairs": part["pairs"].max(),
            "n_clusters": part["n_clusters"].max(),
            "note": f"mean over {part['kendall_tau'].drop_nulls().len()} annotators",
        }
        for m in METRICS:
            row[m] = part[m].mean()
            if sampled:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a draw none could rank
                    mean = np.nanmean(np.stack([d[m] for d in sampled]), axis=0)
                row[f"{m}_lo"], row[f"{m}_hi"] = as_pair(
                    mean_interval(
                        mean, row[m], row["n_clusters"], bootstrap.level, METRIC_BOUNDS[m]
                    )
                )
        pooled.append(row)
    people = humans.generators.filter(pl.col("judge") != "people")
    agreement = pl.concat(
        [
            result.agreement,
            humans.agreement,
            pl.DataFrame(pooled, schema=result.agreement.schema),
        ]
    )
    return Rankings(pl.concat([result.generators, people]), agreement, result.draws)


def _lookup(obj: Any, path: list[str]) -> tuple[bool, Any]:
    for key in path:
        if isinstance(obj, dict):
            if key not in obj:
                return False, None
            obj = obj[key]
        elif hasattr(obj, key) and not callable(getattr(obj, key)):
            obj = getattr(obj, key)
        elif hasattr(obj, "fields") and key in obj.fields:
            obj = obj.fields[key]
        else:
            return False, None
    return True, obj


def _values(value: Any) -> list[str]:
    if value is None:
        return [MISSING]
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted({str(v) for v in value}) or [MISSING]
    if isinstance(value, dict):
        return sorted(str(k) for k, v in value.items() if v) or ["(none true)"]
    return [str(value)]


def slice_members(pair: Pair, name: str) -> tuple[bool, list[tuple[str, str]]]:
    """The slices ``pair`` belongs to for field ``name``: ``(level, value)`` each.

    ``generator``: the unordered generator pair (level ``generator pair``) and each of its two
    generators (level ``generator``). Any other name (dots for nesting, e.g.
    ``video_0.generated_from``) is looked up on the pair and its fields; failing that, on both
    videos (a pair is in the slice of each video's value). A list is one slice per element.
    """
    if name == GENERATOR:
        a = pair.video_0.generated_from or MISSING
        b = pair.video_1.generated_from or MISSING
        lo, hi = sorted((a, b))
        return True, [("generator pair", f"{lo} vs {hi}"), *(("generator", g) for g in {a, b})]
    path = name.split(".")
    found, value = _lookup(pair, path)
    if found:
        return True, [(name, v) for v in _values(value)]
    seen = False
    out: list[str] = []
    for video in (pair.video_0, pair.video_1):
        hit, value = _lookup(video, path)
        seen |= hit
        out += _values(value)
    return seen, [(name, v) for v in sorted(set(out))]


def _unknown_field(name: str, pairs: Sequence[Pair]) -> ConfigError:
    sample = pairs[:1000]
    have = sorted(
        {"generator", "prompt_type", *(k for p in sample for k in p.fields)}
        | {f"video_0.{k}" for p in sample for k in p.video_0.fields}
    )
    return ConfigError(f"--by {name}: no pair has this field; fields present: {', '.join(have)}")


def slice_frame(verdicts: pl.DataFrame, pairs: Sequence[Pair], name: str) -> pl.DataFrame:
    """Verdict rows with ``level`` and ``slice`` columns, one row per (verdict, slice).

    Raises:
        ConfigError: no pair has the field (naming the fields they do have).

    """
    members, any_found = [], False
    for pair in pairs:
        found, slices = slice_members(pair, name)
        any_found |= found
        members += [(pair.pair_id, level, value) for level, value in slices]
    if not any_found:
        raise _unknown_field(name, pairs)
    table = pl.DataFrame(
        members, schema={"pair_id": pl.String, "level": pl.String, "slice": pl.String}, orient="row"
    ).unique(maintain_order=True)
    return verdicts.join(table, on="pair_id", how="inner")


def agreement_by(
    verdicts: pl.DataFrame,
    pairs: Sequence[Pair],
    name: str,
    bootstrap: BootstrapConfig,
    min_pairs: int = MIN_SLICE_PAIRS,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Agreement per slice of field ``name`` and the heterogeneity tests, per level.

    Returns:
        The slice table and the tests, each with a ``level`` column first (``generator pair``
        and ``generator`` for ``--by generator``; the field's name otherwise).

    """
    frame = slice_frame(verdicts, pairs, name)
    tables, tests = [], []
    for level in frame["level"].unique(maintain_order=True).to_list():
        table, test = slice_table(
            frame.filter(pl.col("level") == level).drop("level"), bootstrap, min_pairs
        )
        if table.is_empty():
            continue
        tables.append(table.select(pl.lit(level).alias("level"), pl.all()))
        tests.append(test.select(pl.lit(level).alias("level"), pl.all()))
    if not tables:
        return pl.DataFrame(), pl.DataFrame()
    return pl.concat(tables), pl.concat(tests)


def file_stem(name: str) -> str:
    """``agreement_by_<field>`` file stem for a field name (unsafe characters as ``_``)."""
    return "agreement_by_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def check_fields(pairs: Sequence[Pair], by: Sequence[str]) -> None:
    """Refuse, before any judging, a ``--by`` field no pair has.

    Raises:
        ConfigError: naming the field and the fields present.

    """
    for name in by:
        if name != GENERATOR and not any(slice_members(p, name)[0] for p in pairs):
            raise _unknown_field(name, pairs)


def above_pairs(
    verdicts: pl.DataFrame,
    pairs: Sequence[Pair],
    bootstrap: BootstrapConfig,
    rank: bool | None,
    by: Sequence[str],
    votes: pl.DataFrame | None = None,
    ranking: RankingConfig | None = None,
    min_slice_pairs: int = MIN_SLICE_PAIRS,
) -> AbovePairs:
    """Rankings (``rank`` True, or None and the videos name two generators or more) and slices.

    Raises:
        ConfigError: ``rank=True`` but no video names its generator.

    """
    ranking = ranking or RankingConfig()
    above = AbovePairs(method=bootstrap.method, prior=ranking.prior)
    named = generators_named(pairs)
    if named or by:  # joined with tables of text below
        verdicts = texts(verdicts)
    if rank is True and not named:
        raise ConfigError(
            "--rank-generators: no video names its generator (the 'generated_from' field of "
            "each video; VideoGen-RewardBench's A_model/B_model)"
        )
    result = None
    if rank or (rank is None and len(named) >= 2):
        result = rank_generators(verdicts, pairs, bootstrap, ranking, votes)
        if result.agreement.is_empty():
            above.skipped = (
                f"no labelled pair compares two different generators (named: {', '.join(named)})"
            )
            result = None
    if result is not None:
        notes = result.agreement.filter(pl.col("judge").str.starts_with("human").not_())["note"]
        if len(notes) and notes.is_not_null().all():
            above.skipped = notes[0]
        above.generators, above.ranking_agreement = result.generators, result.agreement
        above.win_rates = win_rates(with_generators(verdicts, pairs))
    for name in by:
        above.slices[name] = agreement_by(verdicts, pairs, name, bootstrap, min_slice_pairs)
        above.files[name] = file_stem(name)
    return above
