from __future__ import annotations

import json

import polars as pl
import pytest

from conftest import make_dataset
from judges.core.errors import DataError
from judges.datasets import load_dataset
from judges.datasets.votes import check_votes, collect_votes, label_studio_votes, read_votes_file

ROWS = [
    ("pair-0", "aesthetics", "ann1", "video_0"),
    ("pair-0", "aesthetics", "ann2", "tie"),
    ("pair-1", "information", "ann1", "video_1"),  # SafeSora's key for informativeness
]


def _write(path, rows, kind):
    frame = pl.DataFrame(rows, schema=["pair_id", "dimension", "annotator", "choice"], orient="row")
    if kind == "csv":
        frame.write_csv(path)
    elif kind == "parquet":
        frame.write_parquet(path)
    else:
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dicts()) + "\n")


@pytest.fixture
def pairs(tmp_path):
    return load_dataset(make_dataset(tmp_path / "d", n_pairs=3)).pairs


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl"])
def test_votes_table_in_every_format(tmp_path, pairs, kind):
    path = tmp_path / f"votes.{kind}"
    _write(path, ROWS, kind)
    votes = collect_votes(pairs, [path])
    assert votes is not None
    assert votes.table.rows() == [
        ("pair-0", "aesthetics", "ann1", "video_0"),
        ("pair-0", "aesthetics", "ann2", "tie"),
        ("pair-1", "informativeness", "ann1", "video_1"),
    ]
    assert votes.annotators == ["ann1", "ann2"]
    assert votes.describe()["per_dimension"] == {"aesthetics": 2, "informativeness": 1}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("pair-9", "aesthetics", "a", "video_0"), "line 3: pair_id 'pair-9' is not a pair"),
        (("pair-0", "beauty", "a", "video_0"), "line 3: unknown dimension 'beauty'"),
        (("pair-0", "aesthetics", "a", "left"), "line 3: choice 'left' is not one of"),
        (("pair-0", "aesthetics", "ann1", "video_1"), "votes more than once"),
    ],
)
def test_bad_rows_are_named(tmp_path, pairs, row, message):
    path = tmp_path / "votes.csv"
    _write(path, [ROWS[0], row], "csv")
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        collect_votes(pairs, [path])


def test_missing_column_and_unknown_type(tmp_path, pairs):
    path = tmp_path / "v.csv"
    path.write_text("pair_id,dimension,choice\npair-0,aesthetics,video_0\n")
    with pytest.raises(DataError, match=r"missing column.*annotator"):
        collect_votes(pairs, [path])
    odd = tmp_path / "v.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match="unknown file type"):
        read_votes_file(odd)


def test_votes_field_in_the_pairs_file(tmp_path):
    config = make_dataset(tmp_path / "d", n_pairs=2)
    records = json.loads(config.read_text())
    records[0]["votes"] = [
        {"annotator": "x", "dimension": "aesthetics", "choice": "video_1"},
        {"annotator": "y", "dimension": "aesthetics", "choice": "tie"},
    ]
    records[1]["sub_preferences"] = {"aesthetics": "tie"}  # a recorded human tie
    config.write_text(json.dumps(records))
    ds = load_dataset(config)
    assert ds.pairs[1].ties == frozenset({"aesthetics"})
    votes = collect_votes(ds.pairs)
    assert votes is not None and votes.sources == ["pairs file"]
    assert votes.table["choice"].to_list() == ["video_1", "tie"]
    records[0]["votes"][0]["choice"] = "both"
    config.write_text(json.dumps(records))
    with pytest.raises(DataError, match=r"record #0\): field 'votes\[0\].choice' is 'both'"):
        load_dataset(config)


def test_no_votes_anywhere_is_none(pairs):
    assert collect_votes(pairs) is None


def test_label_studio_export_as_votes(pairs):
    tasks = [
        {
            "id": 11,
            "data": {"pair_id": "pair-0", "dimension": "instruction following"},
            "annotations": [
                {
                    "id": 1,
                    "completed_by": {"id": 1, "email": "a@x.org"},
                    "result": [{"from_name": "preference", "value": {"choices": ["video_1"]}}],
                },
                {"id": 2, "completed_by": 2, "result": [], "was_cancelled": True},
                {
                    "id": 3,
                    "completed_by": 3,
                    "result": [{"from_name": "preference", "value": {"choices": ["tie"]}}],
                },
            ],
            "predictions": [{"result": [{"value": {"choices": ["video_0"]}}]}],
        }
    ]
    frame, where, skipped = label_studio_votes(tasks, "export.json")
    assert frame.rows() == [
        ("pair-0", "instruction following", "a@x.org", "video_1"),
        ("pair-0", "instruction following", "user3", "tie"),
    ]
    assert where == ["export.json: task 11 annotation 1", "export.json: task 11 annotation 3"]
    assert skipped == ["export.json: task 11 annotation 2: cancelled (skipped) by user2"]
    checked = check_votes(frame.with_columns(pl.Series("_where", where)), pairs)
    assert checked["dimension"].to_list() == ["instruction_following"] * 2
