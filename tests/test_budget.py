from __future__ import annotations

import pytest

from judges.chat.budget import Budget


def test_reserve_and_settle():
    b = Budget(1.0)
    assert b.reserve(0.4) and b.reserve(0.4)
    assert not b.reserve(0.4) and b.exhausted
    b.settle(0.4, 0.1)
    assert b.spent == pytest.approx(0.1) and b.reserved == pytest.approx(0.4)
    assert b.reserve(0.4)


def test_unlimited_and_invalid():
    b = Budget()
    assert all(b.reserve(100.0) for _ in range(10)) and not b.exhausted
    with pytest.raises(ValueError):
        Budget(-1)
