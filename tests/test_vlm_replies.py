from __future__ import annotations

import pytest

from judges.builtin.vlm.replies import looks_like_refusal, parse_answer


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Final answer: Video 1", "1"),
        ("final answer: video 2", "2"),
        ("Final Answer: **Video 2**", "2"),
        ("Final answer: Tie", "tie"),
        ("Final answer: the second video", "2"),
        ("[[1]]", "1"),
        ("My verdict is [[2]].", "2"),
        ("Answer: 2", "2"),
        ("Judgment: Video 1", "1"),
        ("After comparing, **Video 2** is better.", "2"),
        ("1", "1"),
        (" Video 2. ", "2"),
        ("2\n", "2"),
        # CoT: both videos mentioned on the way, the last well-formed answer wins
        (
            "Video 1 shows a cat. Video 2 shows a dog.\nAnswer: 1 seems plausible, but...\n"
            "Final answer: Video 2",
            "2",
        ),
        ("Final answer: Video 1\nWait, reconsidering.\nFinal answer: Video 2", "2"),
    ],
)
def test_accepted_forms(text, answer):
    assert parse_answer(text).answer == answer


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "Both videos are nice.",
        "Video 1 vs Video 2",
        "I prefer video 12",
        "Final answer: Video 3",
    ],
)
def test_no_answer(text):
    assert parse_answer(text).answer is None


def test_span_points_at_the_answer():
    text = "Reasoning...\nFinal answer: Video 2"
    parsed = parse_answer(text)
    assert text[parsed.start : parsed.end] == "2"
    assert parsed.pattern == "final answer"


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("I'm sorry, but I can't assist with that.", True),
        ("I cannot help with this request.", True),
        ("I am unable to compare these videos.", True),
        ("I won't evaluate content like this.", True),
        ("The first video is sorry-looking but sharp.", False),
        ("Both are fine.", False),
    ],
)
def test_refusal_detection(text, refusal):
    assert looks_like_refusal(text) is refusal
