from __future__ import annotations

import pytest

from judges.chat.pricing import Price, estimate_prompt_tokens, image_tokens, price_for, text_tokens


@pytest.mark.parametrize(
    ("w", "h", "detail", "tokens"),
    [  # OpenAI's published examples for GPT-4o-class models
        (1024, 1024, "high", 765),  # 768x768 -> 4 tiles
        (2048, 4096, "high", 1105),  # -> 1024x2048 -> 768x1536 -> 6 tiles
        (4096, 8192, "low", 85),
        (512, 512, "high", 255),  # one tile
        (256, 160, "auto", 255),  # auto estimated as high
    ],
)
def test_tile_rule(w, h, detail, tokens):
    assert image_tokens(w, h, detail) == tokens


def test_mini_bills_images_differently():
    assert image_tokens(512, 512, "low", "gpt-4o-mini") == 2833
    assert image_tokens(512, 512, "high", "gpt-4o-mini") == 2833 + 5667


def test_prices_and_overrides():
    assert price_for("gpt-4o-2024-05-13") == Price(5.0, 15.0)
    assert price_for("gpt-4o-mini") == Price(0.15, 0.60)
    assert price_for("unknown-model") is None
    assert price_for("unknown-model", 1.0) == Price(1.0, 0.0)
    assert price_for("gpt-4o-2024-08-06", output_override=1.0) == Price(2.5, 1.0)
    assert Price(2.5, 10.0).cost(1000, 100) == pytest.approx(0.0035)


def test_prompt_token_estimate():
    messages = [
        {"role": "system", "content": "x" * 400},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "y" * 40},
                {"type": "image_url", "image_url": {"url": "..."}},
            ],
        },
    ]
    assert text_tokens("abcd" * 10) == 10
    assert (
        estimate_prompt_tokens(messages, [(512, 512)], "low", "gpt-4o") == 3 + 3 + 100 + 3 + 10 + 85
    )
