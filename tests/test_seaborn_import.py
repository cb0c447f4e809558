"""judges.report.seaborn_import: lean only in a command's process, and undone straight after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LEAN = """
import sys
from judges.report.seaborn_import import allow_lean_import, import_seaborn
allow_lean_import()
sns = import_seaborn()
print("stats" if "scipy.stats" in sys.modules else "no-stats")
print("cluster" if "scipy.cluster" in sys.modules else "no-cluster")
import scipy.stats  # hidden from seaborn's import only: importable again
print(scipy.stats.binom.sf(2, 10, 0.5) > 0, sns.color_palette("husl", 3).as_hex()[0])
"""

DEFAULT = """
import sys
from judges.report.seaborn_import import import_seaborn
import_seaborn()
print("stats" if "scipy.stats" in sys.modules else "no-stats")
"""

FIRST = """
import sys
import seaborn
import seaborn._statistics
from judges.report.seaborn_import import allow_lean_import, import_seaborn
allow_lean_import()
print(import_seaborn() is seaborn, seaborn._statistics._no_scipy)
"""


def _run(code: str) -> list[str]:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.split("\n")


def test_lean_import_skips_scipy_stats_and_cluster_then_restores_them():
    out = _run(LEAN)
    assert out[:2] == ["no-stats", "no-cluster"]
    assert out[2] == "True #f77189"  # seaborn's own husl palette, first colour


def test_without_permission_seaborn_is_imported_as_usual():
    # A notebook or library user: seaborn keeps scipy (clustermap and kdeplot work as usual).
    assert _run(DEFAULT)[0] == "stats"


def test_an_already_imported_seaborn_is_left_as_it_is():
    assert _run(FIRST)[0] == "True False"


COMMAND = """
import runpy, sys
sys.argv = [sys.argv[1], *sys.argv[2:]]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")  # the command as `python agreement.py`
except SystemExit as e:
    code = e.code
print(code, "seaborn" in sys.modules, "scipy.stats" in sys.modules)
"""


def test_a_drawing_command_imports_seaborn_lean(tmp_path):
    script = Path(__file__).resolve().parents[1] / "experiments" / "agreement.py"
    args = ["--judge", "psnr", "--frames", "1", "--limit", "6", "--quiet", "--figures", "all"]
    args += ["--out", str(tmp_path / "out"), "--run-id", "r"]
    res = subprocess.run(
        [sys.executable, "-c", COMMAND, str(script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[-2] == "0 True False"  # drew, through seaborn, no scipy.stats
    assert list((tmp_path / "out" / "r" / "figures").glob("*.png"))


FALLBACK = """
import sys
from judges.report import seaborn_import
seaborn_import.allow_lean_import()
# A seaborn that needs a hidden module: pandas stands in for it (seaborn cannot do without it).
seaborn_import._OPTIONAL_FOR_SEABORN = ("scipy.stats", "pandas")
sns = seaborn_import.import_seaborn()
print(sns.__name__, "pandas" in sys.modules, sys.modules.get("scipy.stats", "absent") is not None)
"""


def test_a_seaborn_that_needs_a_hidden_module_is_imported_plainly():
    assert _run(FALLBACK)[0] == "seaborn True True"
