"""The public API checks what it is given as the commands do."""

from __future__ import annotations

import pytest

import judges
from judges import AgreementConfig, ConfigError, Dimension, JudgeRequest


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ("1,2", (1, 2)),
        (["all"], (None,)),
        ("8, all ,1", (1, 8, None)),
        ([8, None, "2", 8], (2, 8, None)),
        (4, (4,)),
        (None, (None,)),
    ],
)
def test_frames_in_any_spelling_become_one_checked_form(frames, expected):
    assert AgreementConfig(judges=[JudgeRequest("psnr")], frames=frames).frames == expected


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (["al"], "'al' is not a whole number or 'all'"),
        ([0], "frame counts must be >= 1, got 0"),
        ([1.5], "1.5 is not a whole number"),
        ([True], "True is not a whole number"),
        ([], "give at least one frame count"),
    ],
)
def test_bad_frames_are_refused_naming_the_value(frames, message):
    with pytest.raises(ConfigError, match=message):
        AgreementConfig(judges=[JudgeRequest("psnr")], frames=frames)


def test_dimensions_by_name_alias_or_value():
    config = AgreementConfig(
        judges=[JudgeRequest("psnr")], dimensions=["Aesthetics", "information"]
    )
    assert config.dimensions == [Dimension.AESTHETICS, Dimension.INFORMATIVENESS]
    assert AgreementConfig(judges=[JudgeRequest("psnr")], dimensions="ALL").dimensions == "all"
    with pytest.raises(ConfigError, match="unknown dimension 'aesthetic'"):
        AgreementConfig(judges=[JudgeRequest("psnr")], dimensions="aesthetic")


def test_a_run_from_python_with_all_frames_and_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = AgreementConfig(
        judges=[JudgeRequest("psnr")], frames=["all"], out=None, limit=6, progress=False
    )
    result = judges.run_agreement(config, log=lambda m: None)
    assert result.run_dir is None and list(tmp_path.iterdir()) == []
    assert result.agreement["frames"].to_list() == ["all"]
    assert result.table["frames"].to_list() == [None]
    assert result.agreement["n_labeled"].to_list() == result.table["n_labeled"].to_list()


def test_every_public_name_resolves_and_the_plugin_api_is_there():
    names = set(judges.__all__)
    assert {
        "ScoreJudge",
        "AsyncJudge",
        "ModelJudge",
        "RunContext",
        "register_judge",
        "register_format",
        "DatasetFormat",
        "run_agreement",
        "AgreementConfig",
        "JudgeRequest",
    } <= names
    for name in names:
        assert getattr(judges, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        judges.nothing_here  # noqa: B018
