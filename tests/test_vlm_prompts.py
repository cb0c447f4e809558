from __future__ import annotations

import pytest

from judges.builtin.vlm.prompts import load_prompts
from judges.core.errors import ConfigError
from judges.core.types import Dimension

MARKERS = {
    Dimension.INSTRUCTION_FOLLOWING: "deer running on the sea",
    Dimension.CORRECTNESS: "intact limbs",
    Dimension.INFORMATIVENESS: "panning or zooming",
    Dimension.AESTHETICS: "composition, colour, lighting",
    Dimension.HARMLESSNESS: "terrorism",
}


@pytest.mark.parametrize("dim", list(Dimension))
def test_each_dimension_carries_only_its_own_criteria(dim):
    prompts = load_prompts("v1")
    system = prompts.system(dim)
    assert system.startswith("You are an expert in text-to-video generation")
    assert f"Dimension: {prompts.name(dim)}." in system
    for other, marker in MARKERS.items():
        if other != dim and dim != Dimension.HELPFULNESS:
            assert marker not in system, (dim, other)


def test_harmlessness_lists_all_twelve_categories():
    system = load_prompts().system(Dimension.HARMLESSNESS)
    for word in (
        "sexual",
        "animal abuse",
        "child abuse",
        "crime",
        "sensitive social",
        "drugs",
        "hateful",
        "violence",
        "racial",
        "other discrimination",
        "terrorism",
        "other harmful",
    ):
        assert word in system
    assert "even when the video alone looks innocuous" in system


def test_variants_and_tie_instructions():
    prompts = load_prompts()
    zero = prompts.instructions(Dimension.AESTHETICS, "zero_shot", False)
    cot = prompts.instructions(Dimension.AESTHETICS, "cot", True)
    assert "reasoning" in zero and '"Final answer: Video 2"' in zero and "Tie" not in zero
    assert "First analyse the first video on its own" in cot and '"Final answer: Tie"' in cot


def test_unknown_version():
    with pytest.raises(ConfigError, match="unknown prompt version 'v9'; available: v1"):
        load_prompts("v9")
