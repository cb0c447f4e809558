"""Confidence a reader can take at its word: calibration error, margin calibration, position bias.

- :func:`expected_calibration_error` and :func:`reliability_bins`: for judges whose confidence is
  a probability (a VLM's answer probability), the gap between stated confidence and the share
  right, in 10 equal-width bins (Guo et al. 2017, "On Calibration of Modern Neural Networks").
- :class:`MarginCalibrator`: maps a score judge's margin ``|s0 - s1|`` to the probability that
  its choice matches people, fit on a calibration split with isotonic regression
  (``scipy.optimize.isotonic_regression``; Zadrozny & Elkan 2002) or Platt scaling (a logistic
  curve; Platt 1999). :func:`crossfit_probabilities` gives out-of-fold probabilities with folds
  by cluster (prompt), so a calibration error is never measured on the pairs it was fit on.
- :func:`position_bias`: for pair judges asked in both presentation orders, how often the
  video shown first wins, and how often the two orders disagree (flip rate), each with a
  cluster-bootstrap interval.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from judges.core.types import CHOICES
from judges.stats.agreement import cluster_column
from judges.stats.bootstrap import BootstrapConfig, ClusterResampler
from judges.stats.classic import wilson_interval

Method = Literal["isotonic", "platt"]
METHODS: tuple[Method, ...] = ("isotonic", "platt")


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """Share right and mean confidence in equal-width confidence bins over [0, 1].

    Example:
        >>> b = reliability_bins(np.array([0.95, 0.95, 0.55]), np.array([1, 1, 0]))
        >>> b.filter(pl.col("n") > 0)["accuracy"].to_list()
        [0.0, 1.0]

    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    n = np.bincount(which, minlength=bins)
    right = np.bincount(which, weights=correct.astype(np.float64), minlength=bins)
    conf = np.bincount(which, weights=confidence.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pl.DataFrame(
            {
                "lo": edges[:-1],
                "hi": edges[1:],
                "n": n.astype(np.int64),
                "confidence_mean": np.where(n > 0, conf / np.maximum(n, 1), np.nan),
                "accuracy": np.where(n > 0, right / np.maximum(n, 1), np.nan),
            }
        )


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """ECE: the bin-size-weighted mean of ``|share right - mean confidence|``.

    Example:
        >>> expected_calibration_error(np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 1, 1, 0]))
        0.1

    """
    if len(confidence) == 0:
        return math.nan
    table = reliability_bins(confidence, correct, bins).filter(pl.col("n") > 0)
    gaps = (table["accuracy"] - table["confidence_mean"]).abs() * table["n"]
    return round(float(gaps.sum() / len(confidence)), 12)


@dataclass(frozen=True)
class MarginCalibrator:
    """Maps a margin to the probability that the judge's choice is the people's.

    Attributes:
        method: ``isotonic`` or ``platt``.
        x: Isotonic: the sorted margins fit on; Platt: ``(slope, intercept)``.
        y: Isotonic: the fitted non-decreasing probabilities; Platt: unused.

    Example:
        >>> cal = MarginCalibrator.fit(np.array([0.1, 0.2, 3, 4]), np.array([1, 0, 1, 1]))
        >>> [round(float(p), 2) for p in cal.predict(np.array([0.15, 5.0]))]
        [0.5, 1.0]

    """

    method: Method
    x: tuple[float, ...]
    y: tuple[float, ...] = ()

    @classmethod
    def fit(cls, margins: np.ndarray, correct: np.ndarray, method: Method = "isotonic"):
        """Fit on calibration margins (``|s0 - s1|``) and whether each choice was right."""
        m = np.abs(np.asarray(margins, dtype=np.float64))
        y = np.asarray(correct, dtype=np.float64)
        if len(m) == 0:
            raise ValueError("no calibration pairs to fit on")
        if method == "isotonic":
            from scipy.optimize import isotonic_regression

            order = np.argsort(m, kind="stable")
            fitted = isotonic_regression(y[order], increasing=True).x
            return cls("isotonic", tuple(m[order].tolist()), tuple(fitted.tolist()))
        if method == "platt":
            from scipy.optimize import minimize

            def loss(w: np.ndarray) -> float:
                z = w[0] * m + w[1]
                return float(np.sum(np.logaddexp(0, z) - y * z))

            w = minimize(loss, np.zeros(2), method="L-BFGS-B").x
            return cls("platt", (float(w[0]), float(w[1])))
        raise ValueError(f"unknown calibration method {method!r}; use one of {METHODS}")

    def predict(self, margins: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for margins (their absolute value)."""
        m = np.abs(np.asarray(margins, dtype=np.float64))
        if self.method == "platt":
            slope, intercept = self.x
            return 1.0 / (1.0 + np.exp(-(slope * m + intercept)))
        x, y = np.asarray(self.x), np.asarray(self.y)
        # Step function: a margin gets the fitted value of the largest fitted margin <= it.
        idx = np.clip(np.searchsorted(x, m, side="right") - 1, 0, len(x) - 1)
        return y[idx]

    def describe(self) -> dict[str, object]:
        """For summaries: the method and its parameters (isotonic: the step count)."""
        if self.method == "platt":
            return {"method": "platt", "slope": self.x[0], "intercept": self.x[1]}
        return {"method": "isotonic", "steps": len(set(self.y)), "fit_pairs": len(self.x)}


def crossfit_probabilities(
    margins: np.ndarray, correct: np.ndarray, folds: np.ndarray, method: Method = "isotonic"
) -> np.ndarray:
    """Out-of-fold calibrated probabilities: each fold predicted by a fit on the others."""
    out = np.full(len(margins), np.nan)
    for fold in np.unique(folds):
        test = folds == fold
        if (~test).any():
            out[test] = MarginCalibrator.fit(margins[~test], correct[~test], method).predict(
                margins[test]
            )
    return out


def calibration_table(verdicts: pl.DataFrame, bins: int = 10) -> pl.DataFrame:
    """ECE per (judge, dimension, frames) for verdicts whose confidence is a probability."""
    rows = []
    if "confidence_kind" not in verdicts.columns:
        return pl.DataFrame()
    usable = verdicts.filter(
        (pl.col("confidence_kind") == "probability")
        & pl.col("winner").is_in(list(CHOICES))
        & pl.col("human").is_in(list(CHOICES))
        & pl.col("confidence").is_not_null()
    )
    for (judge, dim, frames), g in usable.group_by(
        ["judge", "dimension", "frames"], maintain_order=True
    ):
        conf = g["confidence"].to_numpy()
        right = (g["winner"] == g["human"]).to_numpy()
        rows.append(
            {
                "judge": judge,
                "dimension": dim,
                "frames": frames,
                "n": g.height,
                "mean_confidence": float(conf.mean()),
                "accuracy": float(right.mean()),
                "ece": expected_calibration_error(conf, right, bins),
            }
        )
    return pl.DataFrame(rows, schema_overrides={"frames": pl.Int64}) if rows else pl.DataFrame()


def position_bias(verdicts: pl.DataFrame, config: BootstrapConfig | None = None) -> pl.DataFrame:
    """First-position preference and flip rate of judges asked in both orders, with intervals.

    Reads each verdict's replies (``raw.replies``: ``order`` and ``winner`` per presentation).
    ``first_position_rate``: among decided replies, the share choosing the video shown first
    (0.5 = no bias). ``flip_rate``: among pairs with both replies decided, the share where they
    chose different videos. Intervals: Wilson and the cluster bootstrap.
    """
    config = config or BootstrapConfig()
    if "raw" not in verdicts.columns:
        return pl.DataFrame()
    rows = []
    both = verdicts.filter(pl.col("raw").str.contains('"order": "both"', literal=True))
    for (judge, dim, frames), g in both.group_by(
        ["judge", "dimension", "frames"], maintain_order=True
    ):
        keys = g.select(cluster_column(g, config.cluster)).to_series().to_list()
        first, decided, flips, pairs_both = [], [], [], []
        for raw in g["raw"].to_list():
            replies = json.loads(raw).get("replies", [])
            ok = [r for r in replies if r.get("winner") in CHOICES]
            shown_first = [
                r["winner"] == ("video_1" if r.get("order") == "video_1 first" else "video_0")
                for r in ok
            ]
            first.append(sum(shown_first))
            decided.append(len(ok))
            pairs_both.append(len(ok) == 2)
            flips.append(len(ok) == 2 and ok[0]["winner"] != ok[1]["winner"])
        f, d = np.array(first, float), np.array(decided, float)
        fl, pb = np.array(flips, float), np.array(pairs_both, float)
        resampler = ClusterResampler(keys, config)
        fp_lo, fp_hi = resampler.interval(f, d) if config.resamples else (math.nan, math.nan)
        fl_lo, fl_hi = resampler.interval(fl, pb) if config.resamples else (math.nan, math.nan)
        if config.resamples:
            # Null where too few clusters give no interval (as in agreement.csv).
            fp_lo, fp_hi, fl_lo, fl_hi = (
                None if math.isnan(x) else x for x in (fp_lo, fp_hi, fl_lo, fl_hi)
            )
        w_lo, w_hi = wilson_interval(int(f.sum()), int(d.sum()))
        rows.append(
            {
                "judge": judge,
                "dimension": dim,
                "frames": frames,
                "n_replies": int(d.sum()),
                "n_clusters": resampler.clusters_with(d),
                "first_position_rate": f.sum() / d.sum() if d.sum() else math.nan,
                "first_position_lo": w_lo,
                "first_position_hi": w_hi,
                "first_position_cluster_lo": fp_lo,
                "first_position_cluster_hi": fp_hi,
                "n_both_decided": int(pb.sum()),
                "flip_rate": fl.sum() / pb.sum() if pb.sum() else math.nan,
                "flip_cluster_lo": fl_lo,
                "flip_cluster_hi": fl_hi,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"frames": pl.Int64}) if rows else pl.DataFrame()
