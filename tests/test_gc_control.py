"""The run keeps the garbage collector out of its long-lived objects, and puts it back."""

from __future__ import annotations

import gc

from conftest import make_dataset
from judges.core.gc_control import frozen_after, gc_paused
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement


def test_a_run_freezes_its_pairs_and_unfreezes_them_at_the_end(tmp_path, monkeypatch):
    frozen = []
    real_freeze = gc.freeze

    def counted() -> None:
        real_freeze()
        frozen.append(gc.get_freeze_count())

    monkeypatch.setattr(gc, "freeze", counted)
    config = AgreementConfig(
        judges=[JudgeRequest("psnr")],
        frames=[1],
        data=make_dataset(tmp_path / "d", n_pairs=3),
        out=tmp_path / "r",
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    run_agreement(config, log=lambda _: None)
    assert len(frozen) == 1 and frozen[0] > 0  # frozen once, after the pairs were loaded
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_a_process_that_froze_itself_and_a_disabled_collector_are_left_alone():
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with frozen_after() as freeze:
            freeze()
        assert gc.get_freeze_count() == before  # not unfrozen by us
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # off before: off after
    finally:
        gc.enable()
