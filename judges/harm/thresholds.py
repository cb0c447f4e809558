"""Per-category thresholds for harm judges that give probabilities, fit without optimism.

A moderation model's or CLIP's probabilities need a threshold per category. The threshold that
maximises agreement on the data being scored flatters the judge, so :func:`refit` fits each
category's threshold on one half of the prompts and applies it to the other (2-fold
cross-fitting by prompt, as for the tie thresholds), and reports thresholds fit on all labelled
items, to pass back as ``thresholds=`` on new data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from judges.core.errors import ConfigError
from judges.core.harm_types import HARM_KEYS, HarmItem, HarmVerdict
from judges.stats.ties import folds_by_cluster


def parse_thresholds(text: str | None, default: float) -> dict[str, float]:
    """``"violence:0.3,porn:0.7"`` over a default, for every category.

    Raises:
        ConfigError: an unknown category or a value outside [0, 1].

    Example:
        >>> parse_thresholds("violence:0.3", 0.5)["violence"]
        0.3

    """
    out = dict.fromkeys(HARM_KEYS, default)
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, _, value = part.partition(":")
        key = key.strip()
        if key not in HARM_KEYS:
            raise ConfigError(
                f"thresholds: {key!r} is not a harm category ({', '.join(HARM_KEYS)})"
            )
        try:
            out[key] = float(value)
        except ValueError:
            raise ConfigError(f"thresholds: {part!r} is not KEY:NUMBER") from None
    for key, value in out.items():
        if not 0 <= value <= 1:
            raise ConfigError(f"threshold of {key} must be within [0, 1], got {value}")
    return out


def best_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The threshold ``t`` maximising agreement of ``p >= t`` with ``y`` (``inf``: none true).

    Candidates are the distinct probabilities (and "nothing true"); the highest best threshold
    wins a draw (the fewest positives). Vectorised: sort descending, accumulate.

    Example:
        >>> best_threshold(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 1], bool))
        0.8

    """
    if len(p) == 0:
        return math.inf
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    negatives = int((~y).sum())
    # Marking the top k true: right = true positives among them + negatives below them.
    right = np.cumsum(ys) + negatives - np.cumsum(~ys)
    ends = np.r_[ps[1:] != ps[:-1], True]  # a threshold takes all equal probabilities
    right, values = right[ends], ps[ends]
    k = int(np.argmax(right))
    return float(values[k]) if right[k] > negatives else math.inf


def refit(
    verdicts: Sequence[HarmVerdict], items: Sequence[HarmItem]
) -> tuple[list[HarmVerdict], dict[str, dict[str, dict[str, float]]]]:
    """Verdicts with probabilities relabelled by cross-fitted thresholds, and the thresholds.

    Verdicts without probabilities (VLM judges) are returned unchanged. Thresholds are fit per
    (judge, frames, category) on the items the people labelled.

    Returns:
        ``(verdicts, {judge: {frames: {category: threshold fit on all}}})``.

    """
    by_id = {i.item_id: i for i in items}
    fold_of = dict(zip(by_id, folds_by_cluster([i.prompt_id for i in items]).tolist(), strict=True))
    groups: dict[tuple[str, int | None], list[int]] = {}
    for n, v in enumerate(verdicts):
        if v.probabilities and v.status == "ok" and v.item_id in by_id:
            groups.setdefault((v.judge, v.frames), []).append(n)
    out = list(verdicts)
    fitted: dict[str, dict[str, dict[str, float]]] = {}
    for (judge, frames), rows in groups.items():
        folds = np.array([fold_of[verdicts[r].item_id] for r in rows])
        labels: list[dict[str, bool]] = [dict(verdicts[r].labels or {}) for r in rows]
        record = fitted.setdefault(judge, {}).setdefault(str(frames), {})
        for key in HARM_KEYS:
            p = np.array([verdicts[r].probabilities.get(key, np.nan) for r in rows])
            human = [(by_id[verdicts[r].item_id].video.harm_labels or {}).get(key) for r in rows]
            known = np.array([h is not None for h in human]) & np.isfinite(p)
            y = np.array([bool(h) for h in human])
            if not known.any():
                continue
            record[key] = best_threshold(p[known], y[known])
            for fold in np.unique(folds):
                train = known & (folds != fold)
                t = best_threshold(p[train], y[train]) if train.any() else record[key]
                for j in np.flatnonzero((folds == fold) & np.isfinite(p)):
                    labels[j][key] = bool(p[j] >= t)
        for r, lab in zip(rows, labels, strict=True):
            raw = {**verdicts[r].raw, "thresholds": "cross-fitted by prompt (--fit-thresholds)"}
            out[r] = dataclasses.replace(verdicts[r], labels=lab, raw=raw)
    return out, fitted
