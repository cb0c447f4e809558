"""The pre-labelling loop against a real Label Studio server: export tasks, people label, export,
measure. Skipped, with the reason printed, when label-studio cannot be installed here."""

from __future__ import annotations

import json

import polars as pl
import pytest

from conftest import make_dataset
from judges.core.types import Dimension
from judges.datasets import load_dataset
from judges.datasets.votes import collect_votes
from judges.run.agreement import AgreementConfig, run_agreement
from judges.run.prelabel import PrelabelConfig, run_prelabel
from judges.run.session import JudgeRequest
from judges.stats.bootstrap import BootstrapConfig
from label_studio_server import LabelStudio, install

pytestmark = pytest.mark.slow

ADMIN_CHOICES = ["video_0", "video_1", "tie", "video_0"]
RATER_CHOICES = ["video_0", "video_0", "video_1", None]  # None: the rater skips that task


def _result(choice: str) -> list[dict[str, object]]:
    return [
        {
            "from_name": "preference",
            "to_name": "video_0",
            "type": "choices",
            "value": {"choices": [choice]},
        }
    ]


def test_label_studio_export_is_read_as_votes(tmp_path):
    exe, why = install()
    if exe is None:
        print(f"label-studio unavailable: {why}")
        pytest.skip(f"label-studio cannot be installed here: {why}")
    config = make_dataset(tmp_path / "d", n_pairs=4)
    pairs = load_dataset(config).pairs
    out = tmp_path / "prelabel"
    run_prelabel(
        PrelabelConfig(
            judge=JudgeRequest("psnr"),
            dimension=Dimension.INFORMATIVENESS,
            frames=2,
            data=config,
            out=out,
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    )
    tasks = json.loads((out / "label_studio_tasks.json").read_text())
    with LabelStudio(exe, tmp_path / "ls") as ls:
        project = ls.api(
            "POST",
            "/api/projects",
            {
                "title": "t2v pre-labelling",
                "label_config": (out / "labeling_config.xml").read_text(),
            },
        )
        imported = ls.api("POST", f"/api/projects/{project['id']}/import", tasks)
        assert imported["task_count"] == 4 and imported["prediction_count"] == 4
        listed = ls.api("GET", f"/api/tasks?project={project['id']}&page_size=100")["tasks"]
        task_of = {t["data"]["pair_id"]: t["id"] for t in listed}
        admin = ls.api("GET", "/api/current-user/whoami")["id"]
        rater = ls.sign_up("rater@example.com", "rater-secret-123")
        rater_id = json.loads(rater.open("/api/current-user/whoami"))["id"]
        assert rater_id != admin
        for pair, a, r in zip(pairs, ADMIN_CHOICES, RATER_CHOICES, strict=True):
            task = task_of[pair.pair_id]
            ls.api("POST", f"/api/tasks/{task}/annotations/", {"result": _result(a)})
            if r is None:
                rater.api(f"/api/tasks/{task}/annotations/", {"result": [], "was_cancelled": True})
            else:
                rater.api(f"/api/tasks/{task}/annotations/", {"result": _result(r)})
        export = ls.api("GET", f"/api/projects/{project['id']}/export?exportType=JSON")
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    votes = collect_votes(pairs, [path])
    assert votes is not None
    expected = {(p.pair_id, f"user{admin}", a) for p, a in zip(pairs, ADMIN_CHOICES, strict=True)}
    expected |= {
        (p.pair_id, f"user{rater_id}", r)
        for p, r in zip(pairs, RATER_CHOICES, strict=True)
        if r is not None
    }
    got = set(votes.table.select("pair_id", "annotator", "choice").iter_rows())
    assert got == expected
    assert set(votes.table["dimension"]) == {"informativeness"}
    assert len(votes.skipped) == 1 and "cancelled" in votes.skipped[0]
    # The export feeds the human ceiling of an agreement run.
    result = run_agreement(
        AgreementConfig(
            judges=[JudgeRequest("psnr")],
            frames=[2],
            data=config,
            votes=[path],
            out=tmp_path / "r",
            cache_dir=tmp_path / "cache",
            progress=False,
            stats=BootstrapConfig(resamples=200),
        )
    )
    ceiling = pl.read_csv(result.run_dir / "ceiling.csv").filter(pl.col("annotator") == "all")
    # Two annotators: each is compared with the other's vote where that vote is not a tie.
    # Pairs 0-2 have both votes; references exist where the other did not say tie:
    # pair 0 (v0/v0) both ways hit; pair 1 (v1/v0) both ways miss; pair 2 (tie/v1): the
    # admin's tie is scored against v1 (miss), the rater has no reference. 2 hits of 5.
    row = ceiling.row(0, named=True)
    assert (row["n_reference"], row["agreement"]) == (5, 0.4)
