from __future__ import annotations

import json

import numpy as np
import polars as pl

from judges.report.verdict_packing import (
    OUTCOME_CODES,
    outcomes,
    replies,
    reply_text,
    round_column,
    round_significant,
)


def test_rounding_equals_the_string_rounding_bit_for_bit():
    rng = np.random.default_rng(0)
    edges = [9999.5, 999.95, 0.00012345, 1.0005, 2.5e-5, 1e22, 1e23, 1e-300, 5e-324, 1.7e308]
    edges += [-0.0, 0.0, 0.5, 12345.5, 1234.5, 99995.0, 0.1 + 0.2, 1 / 3, -2.675]
    x = np.concatenate(
        [
            rng.standard_normal(50_000) * 10.0 ** rng.integers(-30, 30, 50_000),
            rng.random(50_000),
            np.round(rng.random(50_000) * 1e5) / 10,  # many exact halves at the fifth digit
            np.array(edges),
        ]
    )
    fast = round_significant(x)
    expected = np.array([float(f"{v:.4g}") for v in x.tolist()])
    assert fast.tobytes() == expected.tobytes()  # the sign of zero included


def test_rounded_column_nulls_what_json_cannot_hold():
    values = pl.Series([1.23456, None, float("inf"), float("nan"), -0.000987654])
    assert round_column(values) == [1.235, None, None, None, -0.0009877]
    assert round_column(pl.Series([None, None], dtype=pl.Float64)) is None


def test_outcome_letters_and_reply_indices_equal_the_per_verdict_rules():
    part = pl.DataFrame(
        {
            "winner": ["video_0", None, "tie", None, "video_1", None],
            "status": ["ok", "refused", "tie", "error", "ok", None],
            "raw": [
                json.dumps({"replies": [{"text": "A is better"}]}),
                "plain",
                None,
                json.dumps({"replies": [{"text": "A is better"}]}),
                None,
                "plain",
            ],
            "error": [None, None, None, "timeout", None, None],
        }
    ).with_columns(pl.col("winner", "status").cast(pl.Categorical))
    rows = part.rows(named=True)
    assert outcomes(part) == "".join(
        OUTCOME_CODES.get(r["winner"] or "", OUTCOME_CODES.get(r["status"] or "", "e"))
        for r in rows
    )
    texts: dict[str, int] = {"earlier": 0}
    got = replies(part, texts)
    expected_texts: dict[str, int] = {"earlier": 0}
    expected = [
        expected_texts.setdefault(t, len(expected_texts))
        if (t := reply_text(r["raw"], r["error"]))
        else -1
        for r in rows
    ]
    assert got == expected == [1, 2, -1, 3, -1, 2]
    assert texts == expected_texts
