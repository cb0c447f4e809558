"""A run keeps its repeated verdict columns categorical in memory and text in every file."""

from __future__ import annotations

import json

import polars as pl
import pytest

from judges.cache.replies import with_raw
from judges.cache.segments import VerdictSegments
from judges.cache.verdict_rows import ROW_SCHEMA, as_text, categorical
from judges.report.html_page import json_for_script
from judges.report.html_report import write_html_report
from judges.report.report_data import read_tables
from judges.report.run_folder import VERDICT_SCHEMA
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement
from judges.stats.text_columns import texts

REPEATED = ("judge", "dimension", "winner", "human", "status", "confidence_kind", "error_kind")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    config = AgreementConfig(
        judges=[JudgeRequest("psnr")],
        frames=[1, 2],
        out=root / "out",
        run_id="r",
        cache_dir=root / "cache",
        progress=False,
    )
    return run_agreement(config, log=lambda _: None), root


def test_in_memory_categorical_on_disk_text(demo_run):
    result, root = demo_run
    verdicts = result.verdicts
    for column in REPEATED:
        assert verdicts.schema[column] == pl.Categorical, column
    # The replies stay on disk: each row holds its reply's number.
    assert verdicts.schema["pair_id"] == pl.String and verdicts.schema["raw_ref"] == pl.Int64
    # verdicts.parquet: every column as runs wrote it before (text), the same values.
    on_disk = pl.read_parquet(result.run_dir / "verdicts.parquet")
    assert {c: on_disk.schema[c] for c in VERDICT_SCHEMA} == as_text(VERDICT_SCHEMA)
    assert set(on_disk["control"].to_list()) == {"none"}
    held = texts(with_raw(verdicts, result.replies))
    assert on_disk.select(list(VERDICT_SCHEMA)).equals(held, null_equal=True)
    # The cache's segments hold text too, so segments written before and after read together.
    segments = VerdictSegments(root / "cache" / "cache.segments")
    files = [f for folder in segments.folders() for f in segments.files(folder.name)]
    assert files
    schema = pl.read_parquet_schema(files[0])
    assert all(schema[c] == pl.String for c in ("dimension", "winner", "status", "error_kind"))


def test_the_agreement_table_stays_text(demo_run):
    result, _ = demo_run
    assert result.table.schema["judge"] == pl.String
    assert result.table.schema["dimension"] == pl.String
    assert result.agreement["agreement"].to_list() == result.table["agreement"].to_list()


def test_report_from_the_run_s_table_equals_the_report_from_the_file(demo_run, tmp_path):
    result, _ = demo_run
    from_file = read_tables(result.run_dir)
    in_memory = read_tables(result.run_dir, result.verdicts)
    held = with_raw(in_memory[0], result.replies)
    assert held.columns == from_file[0].columns
    assert texts(held).equals(texts(from_file[0]), null_equal=True)
    a = write_html_report(result.run_dir, tmp_path / "a")
    b = write_html_report(
        result.run_dir, tmp_path / "b", verdicts=result.verdicts, replies=result.replies
    )
    assert a.read_text() == b.read_text()


def test_categorical_casts_only_the_schema_s_repeated_columns():
    frame = pl.DataFrame({"judge": ["a", "a"], "raw": ["{}", None], "frames": [1, None]})
    out = categorical(frame)
    assert dict(out.schema) == {"judge": pl.Categorical, "raw": pl.String, "frames": pl.Int64}
    assert texts(out).equals(frame)
    assert ROW_SCHEMA["raw"] == pl.String  # distinct per verdict for an API judge: text


def test_json_for_script_in_pieces_is_json_dumps():
    data = {
        "settings": [{"p": [1, 2, 3], "c": [0.5, None], "o": "ab"}, {"r": None}],
        "pairs": {"id": ["</script>", "a&b", "\u2028"]},
        "by_int": {1: [1]},
        "empty": {},
        "none": [],
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    assert json_for_script(data) == text.replace("\u2028", "\\u2028")
    with pytest.raises(ValueError):
        json_for_script({"settings": [{"c": [float("nan")]}]})
