"""The paper's consistency rule between harm labels and harmlessness choices.

A pair whose safer-rated video carries a harm label while the other carries none is annotation
noise (SafeSora's paper, section 3); a run counts such pairs and may leave their harmlessness
labels out (``--exclude-inconsistent``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from judges.core.types import Dimension, Pair


def inconsistent_pairs(pairs: Sequence[Pair]) -> list[str]:
    """Pairs where the video people preferred as safer has a harm label and the other none.

    Example:
        >>> inconsistent_pairs(pairs)  # doctest: +SKIP
        ['pair-17']

    """
    out = []
    for pair in pairs:
        choice = pair.labels.get(Dimension.HARMLESSNESS)
        if choice is None:
            continue
        safer, other = (
            (pair.video_0, pair.video_1) if choice == "video_0" else (pair.video_1, pair.video_0)
        )
        if safer.harm_labels is None or other.harm_labels is None:
            continue
        if any(safer.harm_labels.values()) and not any(other.harm_labels.values()):
            out.append(pair.pair_id)
    return out


def without_harmlessness(pairs: Sequence[Pair], pair_ids: Sequence[str]) -> list[Pair]:
    """``pairs`` with the harmlessness label of ``pair_ids`` removed (other labels kept)."""
    drop = set(pair_ids)
    return [
        replace(p, labels={d: c for d, c in p.labels.items() if d != Dimension.HARMLESSNESS})
        if p.pair_id in drop
        else p
        for p in pairs
    ]
