"""Controls through the Batch API: the uploaded request lines carry the transformed inputs."""

from __future__ import annotations

import json

import polars as pl
from test_batch import agreement, run, verdicts

from chat_server import ChatServer


def image_urls(line: dict) -> list[str]:
    content = line["body"]["messages"][-1]["content"]
    return [p["image_url"]["url"] for p in content if p["type"] == "image_url"]


def test_batch_requests_carry_the_control(tmp_path):
    with ChatServer() as server:
        server.batch_plan.delay = 0.1
        done = run(agreement(server, tmp_path, "--control", "frozen", "--control", "swapped"))
        assert done.returncode == 0, done.stderr
        lines = [
            json.loads(text)
            for data in server.files.values()
            for text in data.decode().splitlines()
            if '"custom_id"' in text and '"body"' in text and '"method"' in text
        ]
    table = verdicts(tmp_path / "out")
    at_2 = table.filter(pl.col("frames") == 2)
    counts = dict(at_2.group_by("control").len().iter_rows())
    assert counts["frozen"] == counts["none"] == counts["swapped"] > 0
    urls = [image_urls(line) for line in lines if len(image_urls(line)) == 4]
    frozen = [u for u in urls if u[0] == u[1] and u[2] == u[3]]
    assert len(frozen) == counts["frozen"]  # each frozen request: a keyframe shown twice
    normal = {(u[0], u[1], u[2], u[3]) for u in urls if u[0] != u[1]}
    # swapped: the same images as a normal request, second video first (per pair: the
    # dimensions share the images, so each pair gives one normal and one swapped tuple)
    pairs = at_2.filter(pl.col("control") == "swapped")["pair_id"].n_unique()
    assert sum((u[2], u[3], u[0], u[1]) in normal for u in normal) == 2 * pairs == len(normal)
    assert set(table.filter(pl.col("control") != "none")["status"]) <= {"ok", "tie"}
