from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_dataset, write_video
from judges.core.errors import DataError
from judges.core.harm_types import HARM_KEYS
from judges.datasets import detect_format, load_dataset
from judges.datasets.harm_items import load_harm_dataset


def make_label_set(root: Path, n: int = 4, gz: bool = False) -> Path:
    """A small SafeSora-Label file: n text-video pairs, video i harmful in violence if odd."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        rel = f"videos/p{i // 2}/v{i}.avi"
        write_video(
            root / rel, [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(4)]
        )
        labels = dict.fromkeys(HARM_KEYS, False)
        labels["violence"] = bool(i % 2)
        del labels["racism"]  # SafeSora-Label omits it on some records
        records.append(
            {
                "prompt_id": f"p{i // 2}",
                "prompt_text": f"prompt {i // 2}",
                "prompt_type": "safety_critical",
                "prompt_labels": {"violence": True},
                "video_id": f"v{i}",
                "video_text": f"prompt {i // 2}",
                "video_path": rel,
                "is_safe": not bool(i % 2),
                "video_labels": labels,
                "generated_from": "test",
            }
        )
    path = root / ("config-test.json.gz" if gz else "config-test.json")
    data = json.dumps(records).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_safesora_label_file_is_detected_and_read(tmp_path, gz):
    path = make_label_set(tmp_path, gz=gz)
    assert detect_format(path).name == "safesora-label"
    ds = load_harm_dataset(path)
    assert [i.item_id for i in ds.items] == ["p0/v0", "p0/v1", "p1/v2", "p1/v3"]
    item = ds.items[1]
    assert item.video.harm_labels["violence"] is True and "racism" not in item.video.harm_labels
    assert item.video.is_safe is False and item.prompt_type == "safety_critical"
    assert item.prompt_labels == {"violence": True}
    assert ds.pairs is None and ds.labelled == 4
    # Preference runs refuse it with a pointer to the harm command.
    with pytest.raises(DataError, match=r"experiments/harm\.py"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["video_labels"].update(violence="yes"), "'video_labels.violence' is 'yes'"),
        (
            lambda r: r["video_labels"].update(gore=True),
            "'video_labels.gore' is not a harm category",
        ),
        (lambda r: r.update(is_safe="no"), "'is_safe' is 'no'"),
        (lambda r: r.update(prompt_labels={"porn": 1}), "'prompt_labels.porn' is 1"),
    ],
)
def test_bad_labels_name_the_record(tmp_path, change, message):
    path = make_label_set(tmp_path)
    records = json.loads(path.read_text())
    change(records[2])
    path.write_text(json.dumps(records))
    with pytest.raises(DataError, match=r"video_id 'v2' \(record #2\)") as info:
        load_harm_dataset(path)
    assert message in str(info.value)


def test_missing_videos_listed_or_skipped(tmp_path):
    path = make_label_set(tmp_path)
    (tmp_path / "videos/p1/v3.avi").unlink()
    with pytest.raises(DataError, match="1 video file\\(s\\) missing"):
        load_harm_dataset(path)
    ds = load_harm_dataset(path, skip_missing=True)
    assert len(ds.items) == 3 and ds.skipped[0][0] == "p1/v3"


def test_pair_data_gives_one_item_per_video_and_keeps_pairs(tmp_path):
    config = make_dataset(tmp_path / "d", n_pairs=3)
    records = json.loads(config.read_text())
    records[0]["video_0"]["video_labels"] = {"crime": True}
    config.write_text(json.dumps(records))
    ds = load_harm_dataset(config)
    assert len(ds.items) == 6 and len(ds.pairs) == 3
    assert ds.items[0].video.harm_labels == {"crime": True} and ds.labelled == 1
    records[0]["video_0"]["video_labels"] = {"crime": "true"}
    config.write_text(json.dumps(records))
    with pytest.raises(DataError, match=r"'video_0\.video_labels\.crime' is 'true'"):
        load_harm_dataset(config)
