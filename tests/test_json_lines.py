import json

import pytest

from judges.cache.json_lines import dumps_function
from judges.cache.verdict_rows import raw_json

ROWS = [
    [None, "k" * 64, "aesthetics", 4, "video_0", "ok", 30.123456789, -0.0, 1e-300, None],
    [float("nan"), float("inf"), -float("inf"), 10**30, True, False, 'é\n"\\', "\u2028"],
    {"b": [1, {"c": None}], "a": 2.5},
    "just a string",
    [],
]


@pytest.mark.parametrize("obj", ROWS)
def test_dumps_function_writes_what_json_dumps_writes(obj):
    assert dumps_function()(obj) == json.dumps(obj)
    assert dumps_function(default=str)(obj) == json.dumps(obj, default=str)


def test_dumps_function_default():
    class Odd:
        def __str__(self):
            return "odd"

    assert dumps_function(default=str)({"x": Odd()}) == '{"x": "odd"}'
    with pytest.raises(TypeError, match="Odd is not JSON serializable"):
        dumps_function()([Odd()])


def test_raw_json_memo_keeps_types_apart():
    # True == 1 == 1.0 and 0.0 == -0.0 as keys of a dict: the memo must not mix them up.
    for raw in (
        {"a": True},
        {"a": 1},
        {"a": 1.0},
        {"a": 0.0},
        {"a": -0.0},
        {"a": "1"},
        {"a": None},
        {"a": True, "b": False},
        {"b": False, "a": True},
        {"reply": "x" * 5000, "n": 3},
        {"nested": {"a": [1, 2]}},
        {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5},
    ):
        for _ in range(2):  # the second call reads the memo
            assert raw_json(raw) == json.dumps(raw, default=str)
    assert raw_json({}) is None
