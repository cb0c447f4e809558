"""Pairs files read one record at a time: the same records and the same errors as a whole read."""

from __future__ import annotations

import json

import pytest

from conftest import make_dataset
from judges.core.errors import DataError
from judges.datasets import load_pairs
from judges.datasets.config_files import drain, read_records, stream_records
from judges.run.task_plan import plan_tasks, planned_tasks


def whole_error(path) -> str:
    with pytest.raises(DataError) as err:
        read_records(path)
    return str(err.value)


def streamed_error(path) -> str:
    records, _ = stream_records(path)
    with pytest.raises(DataError) as err:
        drain(records)
    return str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        " \n[ ]\n ",
        '[{"a": 1}]',
        '[ {"a": [1, 2, {"b": null}]} ,\n\t{"c": "x, ]"} ]\r\n',
        '[1, "two", 3.5, true, null, NaN, {"k": "v"}, []]',
    ],
)
def test_stream_gives_what_a_whole_read_gives(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text)
    records, digest = stream_records(path)
    assert (list(records), digest) == read_records(path)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[",
        '[{"a": 1},]',  # trailing comma
        '[{"a": 1} {"b": 2}]',  # missing comma
        '[{"a": 1}] extra',
        '[{"a": 1}]]',
        '{"not": "a list"}',
        '"text"',
        '[{"a": 1}, {"b": }]',
    ],
)
def test_stream_raises_the_whole_reads_error(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text)
    assert streamed_error(path) == whole_error(path)


def test_jsonl_streams_its_lines_and_names_a_bad_one(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n')
    records, digest = stream_records(path)
    assert (list(records), digest) == read_records(path)
    path.write_text('{"a": 1}\n{oops\n')
    assert (
        streamed_error(path)
        == whole_error(path)
        == f"{path}, line 2: invalid JSON "
        + ("(Expecting property name enclosed in double quotes)")
    )


def test_a_broken_file_is_named_before_a_bad_record(tmp_path):
    # Record #0 is invalid (no videos) and the file is cut short after it: the file's error
    # comes first, as when every record was decoded before any was checked.
    config = make_dataset(tmp_path, n_pairs=2)
    data = json.loads(config.read_text())
    del data[0]["video_0"]
    config.write_text(json.dumps(data)[:-5])
    with pytest.raises(DataError, match="invalid JSON at line 1"):
        load_pairs(config)
    config.write_text(json.dumps(data))  # whole again: the record is named
    with pytest.raises(DataError, match=r"record #0\): required field 'video_0' is missing"):
        load_pairs(config)


def test_equal_labels_share_one_dict_and_plain_records_one_fields_dict(tmp_path):
    config = make_dataset(tmp_path, n_pairs=4)
    data = json.loads(config.read_text())
    for record in data:
        record["helpfulness"], record["sub_preferences"] = "video_1", {"aesthetics": "video_0"}
    data[3]["helpfulness"] = "video_0"
    data[2]["note"] = "kept"  # a field that is not SafeSora's
    config.write_text(json.dumps(data))
    pairs = load_pairs(config)
    assert pairs[0].labels is pairs[1].labels is pairs[2].labels
    assert pairs[3].labels is not pairs[0].labels
    assert pairs[3].labels == {"helpfulness": "video_0", "aesthetics": "video_0"}
    assert pairs[0].fields is pairs[1].fields and pairs[0].fields == {}
    assert pairs[2].fields == {"note": "kept"}
    assert pairs[0].video_0.fields == {}


def test_planned_tasks_read_as_the_listed_tasks(tmp_path):
    pairs = load_pairs(make_dataset(tmp_path, n_pairs=3))
    dims = sorted({d for p in pairs for d in p.labels})
    tasks, _ = planned_tasks(pairs, dims, [1, None, 4])
    listed, _ = plan_tasks(pairs, dims, [1, None, 4])
    assert len(tasks) == len(listed) == 3 * sum(d in p.labels for p in pairs for d in dims)
    assert [tasks[i] for i in range(len(tasks))] == listed == list(tasks)
    assert tasks[-1] == listed[-1]
    with pytest.raises(IndexError):
        tasks[len(tasks)]
