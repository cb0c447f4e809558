"""The exploration notebook runs top to bottom on the demo data (no API key, no weights)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import FETV_DEV, fetv_dev_or_none

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "ai_feedback_reliability.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.slow
def test_notebook_executes_on_demo_data(tmp_path, monkeypatch):
    monkeypatch.setenv("JUDGES_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # no weights: skipped with a note
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows plots
    fetv = fetv_dev_or_none() or FETV_DEV  # absent in a bare clone: section 8 says it skips
    monkeypatch.setenv("JUDGES_FETV_DEV", str(fetv))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "skipping gpt4o" in text and "OPENAI_API_KEY" in text
    assert "running: ['psnr']" in text
    assert "| psnr | informativeness |" in text
    assert "n=" in text and "[" in text  # agreement shown with its interval and n
    # Section 7 uses one dimension, each pair once, and says what its confidence is.
    assert "confidence kind: margin" in text
    # Section 8: real videos with votes, or a plain note when the data is not beside the repo.
    if (fetv / "votes.csv").is_file():
        assert "| human (leave-one-out) | instruction_following |" in text
        assert "cluster bootstrap by prompt" in text
        assert "psnr @8 vs psnr @1 (informativeness, n=68)" in text
    else:
        assert "skipping section 8" in text
    # Controls: psnr reads no prompt, and is undefined on a frozen video.
    assert "psnr @2 informativeness: " in text
    assert "with shuffled prompts (" in text and "the judge ignores the prompt" in text
    assert "psnr @2 informativeness with frozen videos: undefined" in text
    # Section 9: harm labels of the demo data and the consistency rule.
    assert "text-video pairs, 48 with harm labels" in text
    assert "pair(s) rated a harm-labelled video safer" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # keyframe sheets, agreement plots, confidence curve
    runs = list((tmp_path / "results").iterdir())
    assert len(runs) == (2 if (fetv / "votes.csv").is_file() else 1)  # demo (+ fetv-dev)
    assert all((r / "agreement.csv").is_file() for r in runs)
