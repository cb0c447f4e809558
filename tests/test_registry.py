from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

import judges
from judges.core.errors import ConfigError
from judges.judge.options import build_config
from judges.judge.registry import (
    UnknownJudgeError,
    get_judge,
    judge_specs,
    list_judges,
    register_judge,
    unregister_judge,
)


def test_list_and_get():
    assert "psnr" in list_judges()
    judge = get_judge("psnr", name="psnr-compat", safesora_compat="true")
    assert judge.name == "psnr-compat" and judge.kind == "psnr"
    assert judge.config.safesora_compat is True


def test_unknown_name_lists_close_matches():
    with pytest.raises(KeyError) as err:
        get_judge("psrn")
    assert isinstance(err.value, UnknownJudgeError)
    assert "did you mean psnr?" in str(err.value)
    assert "known judges: " in str(err.value)


def test_bad_options_are_config_errors():
    with pytest.raises(
        ConfigError, match="has no option 'tolerance'; its options are: tie_tolerance"
    ):
        get_judge("psnr", tolerance="1")
    with pytest.raises(ConfigError, match="expected true or false"):
        get_judge("psnr", safesora_compat="maybe")
    with pytest.raises(ConfigError, match="tie_tolerance must be >= 0"):
        get_judge("psnr", tie_tolerance="-1")


def test_fingerprint_changes_with_semantic_options():
    a, b = get_judge("psnr"), get_judge("psnr", name="other")
    assert a.fingerprint() == b.fingerprint()  # the label is not an input
    assert a.fingerprint() != get_judge("psnr", tie_tolerance="0.5").fingerprint()


@dataclass(frozen=True)
class Opts:
    count: int = 1
    ratio: float = 0.5
    path: Path | None = None
    mode: Literal["a", "b"] = "a"
    names: tuple[str, ...] = ()
    flag: bool = False


def test_option_coercion():
    o = build_config(
        Opts,
        {"count": "3", "ratio": "0.25", "path": "~/x", "mode": "b", "names": "x, y", "flag": "yes"},
        "t",
    )
    assert o == Opts(3, 0.25, Path("~/x").expanduser(), "b", ("x", "y"), True)
    assert build_config(Opts, {"path": "none"}, "t").path is None
    assert build_config(Opts, {"count": 7}, "t").count == 7
    with pytest.raises(ConfigError, match="'c' is not one of a, b"):
        build_config(Opts, {"mode": "c"}, "t")
    with pytest.raises(ConfigError, match="expected a number"):
        build_config(Opts, {"count": "many"}, "t")


def test_register_custom_judge_with_its_config(fake_judge):
    judge = get_judge(fake_judge, tie_tolerance="0.5")
    assert fake_judge in list_judges()
    assert judge.name == fake_judge and judge.tie_tolerance == 0.5
    with pytest.raises(ConfigError, match="has no option 'nope'; its options are: tie_tolerance"):
        get_judge(fake_judge, nope="1")
    with pytest.raises(ValueError, match="already registered"):
        register_judge(fake_judge)(lambda **kw: None)
    (option,) = judge_specs()[fake_judge].options()
    assert option == {
        "name": "tie_tolerance",
        "type": "float",
        "default": 0.0,
        "help": "Score differences up to this are ties.",
    }


def test_unregister_and_factories():
    from judges.builtin.psnr import PsnrConfig, PsnrJudge

    @register_judge("test-psnr-clone", "a factory registration")
    def make(**kwargs):
        return PsnrJudge(build_config(PsnrConfig, kwargs, "test-psnr-clone"))

    try:
        assert get_judge("test-psnr-clone").name == "test-psnr-clone"
    finally:
        unregister_judge("test-psnr-clone")
    assert "test-psnr-clone" not in list_judges()


def test_presets_are_one_judge_with_other_defaults():
    mini, vlm = get_judge("gpt4o-mini"), get_judge("vlm", model="my-vlm")
    assert type(mini) is type(vlm) and mini.kind == vlm.kind == "vlm"
    assert (mini.cfg.model, vlm.cfg.model) == ("gpt-4o-mini", "my-vlm")
    assert get_judge("gpt4o-mini", model="gpt-4o").cfg.model == "gpt-4o"  # defaults yield
    specs = judge_specs()
    assert {specs[n].defaults["model"] for n in ("gpt4o", "gpt4o-0806", "gpt4o-mini")} == {
        "gpt-4o-2024-05-13",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini",
    }


def test_import_is_light():
    code = (
        "import sys, judges; judges.list_judges(); "
        "heavy = [m for m in ('torch', 'open_clip', 'torchvision') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert judges.__version__
