import polars as pl

from judges.report.report_data import VERDICT_COLUMNS, read_verdicts

# verdicts.parquet as runs have written it (every text column a String).
TODAY = {
    "pair_id": ["p1", "p2", "p3"],
    "prompt_id": ["q1", "q1", "q2"],
    "video_0_id": ["a", "b", "c"],
    "video_1_id": ["d", "e", "f"],
    "judge": ["psnr", "psnr", "gpt"],
    "dimension": ["aesthetics", "correctness", "aesthetics"],
    "frames": [1, None, 8],
    "winner": ["video_0", None, "tie"],
    "human": ["video_1", "video_0", None],
    "match": [False, None, None],
    "status": ["ok", "error", "tie"],
    "score_0": [30.5, None, None],
    "score_1": [29.0, None, None],
    "confidence": [1.5, None, 0.25],
    "confidence_kind": ["margin", "margin", "probability"],
    "error": [None, "a video's score is NaN", None],
    "error_kind": [None, "nan_score", None],
    "cost_usd": [None, None, 0.001],
    "latency_s": [0.1, 0.2, 1.5],
    "raw": ['{"higher_is_better": false}', None, '{"replies": [{"text": "B"}]}'],
}


def test_read_verdicts_reads_todays_files(tmp_path):
    path = tmp_path / "verdicts.parquet"
    written = pl.DataFrame(TODAY)
    written.write_parquet(path)
    read = read_verdicts(path)
    assert read.columns == list(VERDICT_COLUMNS)
    assert read.schema["judge"] == pl.Categorical
    assert read.schema["winner"] == pl.Categorical
    assert read.schema["raw"] == pl.String
    # Same values, row for row, once the categorical columns are read as text again.
    as_text = read.with_columns(pl.col(pl.Categorical).cast(pl.String))
    assert as_text.equals(written.select(VERDICT_COLUMNS))
    assert read.filter(pl.col("judge") == "gpt")["pair_id"].to_list() == ["p3"]


def test_read_verdicts_of_an_older_file_without_some_columns(tmp_path):
    path = tmp_path / "verdicts.parquet"
    pl.DataFrame(TODAY).drop("confidence_kind", "human").write_parquet(path)
    read = read_verdicts(path)
    assert read.columns == [c for c in VERDICT_COLUMNS if c not in ("confidence_kind", "human")]
    assert read["status"].cast(pl.String).to_list() == ["ok", "error", "tie"]
