"""report.html in a real browser (Debian's Chromium through Playwright) and its data in Python.

The runs are written by the tests: the demo's videos (OpenCV mp4v clips, so they play through
VP9 previews) and a crafted pairs file (a script-injection prompt, two generators, votes), judged
by psnr and by the gpt4o judge against the local chat server (reply texts, an unparsed answer).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from chat_server import ChatServer, Reply
from judges.core.harm_types import HARM_KEYS
from judges.datasets.demo import demo_dataset
from judges.harm.agreement import HarmConfig, run_harm
from judges.report.html_page import HtmlReportOptions, json_for_script
from judges.report.html_report import write_html_report, write_merged_html_report
from judges.report.merging import merge_runs
from judges.report.tables import agreement_cell
from judges.run.agreement import AgreementConfig, JudgeRequest, run_agreement
from judges.stats.bootstrap import BootstrapConfig

PAYLOAD = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    "</script> & \u2028 a red fox"
)
KEY_ENV = "JUDGES_HTML_TEST_KEY"


def _responder(body):
    digest = hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).digest()
    if digest[0] % 6 == 0:
        return Reply(content=f"I cannot tell. {PAYLOAD}")  # no answer: unparsed
    if digest[0] % 6 == 1:
        return Reply(status=400, error="bad image")  # a failed call: an error verdict
    return Reply(content=f"Looking closely {PAYLOAD}\nFinal answer: Video {1 + digest[1] % 2}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A preference run (psnr + gpt4o, two dimensions, 1 and 2 frames) and a harm run."""
    root = tmp_path_factory.mktemp("html")
    cache = root / "cache"
    data = root / "data"
    shutil.copytree(demo_dataset(cache_dir=cache), data)
    records = json.loads((data / "config-test.json").read_text())[:12]
    for side in ("video_0", "video_1"):
        records[0][side]["prompt_text"] = PAYLOAD
        for r in records:
            r[side]["generated_from"] = "gen-a" if r[side]["video_id"].endswith("m0") else "gen-b"
    records[0]["prompt_text"] = PAYLOAD
    config = data / "config-test.json"
    config.write_text(json.dumps(records))
    votes = root / "votes.csv"
    pl.DataFrame(
        [
            (r["pair_id"], "informativeness", who, choice)
            for r in records[:4]
            for who, choice in (("ann-1", "video_0"), ("ann-2", "video_1"), ("ann-3", "tie"))
        ],
        schema=["pair_id", "dimension", "annotator", "choice"],
        orient="row",
    ).write_csv(votes)
    scores = root / "mod.csv"
    ids = {r[s]["video_id"] for r in records for s in ("video_0", "video_1")}
    pl.DataFrame(
        [{"video_id": v, **{k: (i * 7 + j) % 10 / 10 for j, k in enumerate(HARM_KEYS)}}
         for i, v in enumerate(sorted(ids))]
    ).write_csv(scores)  # fmt: skip
    stats = BootstrapConfig(resamples=200)
    with pytest.MonkeyPatch.context() as mp, ChatServer(responder=_responder) as server:
        mp.setenv(KEY_ENV, "sk-test")
        gpt = {"base_url": server.url, "api_key_env": KEY_ENV, "max_side": "64"}
        result = run_agreement(
            AgreementConfig(
                judges=[JudgeRequest("psnr"), JudgeRequest("gpt4o", gpt)],
                frames="1,2",
                dimensions="informativeness,aesthetics",
                data=config,
                out=root / "results",
                run_id="r",
                cache_dir=cache,
                votes=[votes],
                progress=False,
                stats=stats,
                figures=True,  # the page shows them (whatever the first test's setting)
            ),
            log=lambda _: None,
        )
    harm = run_harm(
        HarmConfig(
            judges=[JudgeRequest("harm-scores", {"file": str(scores), "threshold": "0.45"})],
            frames=(1,),
            data=config,
            out=root / "results",
            run_id="h",
            cache_dir=cache,
            progress=False,
            stats=stats,
        ),
        log=lambda _: None,
    )
    # The same run after the dataset lost a video: its report is rebuilt into another folder.
    gone = data / records[3]["video_1"]["video_path"]
    missing_dir = root / "missing"
    shutil.copytree(result.run_dir, missing_dir, ignore=shutil.ignore_patterns("report*"))
    gone_copy = gone.with_suffix(".bak")
    gone.rename(gone_copy)
    write_html_report(missing_dir, options=HtmlReportOptions(cache_dir=cache))
    gone_copy.rename(gone)
    return {
        "run": result.run_dir,
        "harm": harm.run_dir,
        "missing": missing_dir,
        "missing_pair": records[3]["pair_id"],
        "missing_name": gone.name,
        "records": records,
        "cache": cache,
        "data": data,
    }


@pytest.fixture(scope="module")
def browser(runs, chromium):
    """The browser, started after the runs (their asyncio must not run under Playwright's)."""
    return chromium


@pytest.fixture
def open_page(browser):
    pages = []

    def _open(path: Path, hash_: str = ""):
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(path.resolve().as_uri() + hash_)
        _wait(page, "window.__report !== undefined")
        page.problems = problems
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.close()


def _wait(page, expression: str, timeout: float = 15.0) -> None:
    """Poll ``expression`` until true (wait_for_function evals, which the page CSP forbids)."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        page.wait_for_timeout(20)


# --- Python side -----------------------------------------------------------------------


def test_json_for_script_cannot_close_the_block_and_reads_back_equal():
    data = {"p": PAYLOAD, "x": ["</SCRIPT >", "<!--", "\u2029", "&amp;"]}
    text = json_for_script(data)
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text) == data


def test_run_writes_report_and_its_sources(runs):
    run = runs["run"]
    assert {"report.html", "pairs.parquet", "votes.parquet"} <= {p.name for p in run.iterdir()}
    html = (run / "report.html").read_text()
    # the data block holds the payload only escaped; no "<script" except the page's two
    assert html.count("<script") == 2 and "__pwned" in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert "http" not in csp and "unsafe-inline" not in csp
    # nothing outside the page: the one link is an empty data: icon (no favicon request)
    assert re.findall(r"<link[^>]*>", html) == ['<link rel="icon" href="data:,">']
    assert 'src="http' not in html
    # mp4v clips got VP9 previews beside the page, cached by content hash
    previews = list((run / "report_files" / "previews").glob("*.webm"))
    files = {
        runs["data"] / r[s]["video_path"] for r in runs["records"] for s in ("video_0", "video_1")
    }
    assert {p.stem for p in previews} == {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    cached = {p.name for p in (runs["cache"] / "previews").glob("*.webm")}
    assert {p.name for p in previews} <= cached
    assert (runs["harm"] / "report.html").is_file() and (runs["harm"] / "items.parquet").is_file()


def test_video_url_prefix_and_copy_videos(runs, tmp_path):
    out = tmp_path / "served"
    write_html_report(
        runs["run"],
        out,
        HtmlReportOptions(video_url_prefix="http://127.0.0.1:9/ds/", previews=False,
                          keyframes=False, cache_dir=runs["cache"]),
    )  # fmt: skip
    data = _data(out / "report.html")
    assert data["videos"][0]["state"] == "fallback"  # mp4v without previews: keyframe strip
    copy = tmp_path / "copy"
    write_html_report(
        runs["run"], copy, HtmlReportOptions(copy_videos=True, cache_dir=runs["cache"])
    )
    data = _data(copy / "report.html")
    for v in data["videos"]:
        assert v["url"].startswith("report_files/") and (copy / v["url"]).is_file()
    served = _data(
        _rebuild(runs, tmp_path / "p", HtmlReportOptions(video_url_prefix="http://h:8000/v/",
                                                        previews=False, keyframes=False))
    )  # fmt: skip
    first = runs["records"][0]["video_0"]["video_path"]
    assert served["videos"][0]["url"] == "http://h:8000/v/" + first
    csp = re.search(r'content="([^"]+)"', (tmp_path / "p" / "report.html").read_text()).group(1)
    assert "media-src 'self' file: blob: http://h:8000" in csp


def _rebuild(runs, out, options):
    import dataclasses

    return write_html_report(
        runs["run"], out, dataclasses.replace(options, cache_dir=runs["cache"])
    )


def _data(path: Path) -> dict:
    html = path.read_text()
    block = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    return json.loads(block.group(1))


def test_merged_report_relabels_judges(runs, tmp_path):
    table = merge_runs([runs["run"], runs["missing"]], allow_mixed_data=True)
    page = write_merged_html_report(
        [runs["run"], runs["missing"]], table, tmp_path, HtmlReportOptions(cache_dir=runs["cache"])
    )
    judges = {s["judge"] for s in _data(page)["settings"]}
    assert judges == set(table["judge"]) == {"psnr@r", "gpt4o@r", "psnr@r#2", "gpt4o@r#2"}
    # harm runs merge the same way: both runs' tags side by side
    copy = tmp_path / "h2"
    shutil.copytree(runs["harm"], copy, ignore=shutil.ignore_patterns("report*"))
    table = merge_runs([runs["harm"], copy])
    page = write_merged_html_report(
        [runs["harm"], copy], table, tmp_path / "hm", HtmlReportOptions(cache_dir=runs["cache"])
    )
    data = _data(page)
    assert data["kind"] == "harm"
    assert {s["judge"] for s in data["settings"]} == {"harm-scores@h", "harm-scores@h#2"}
    one, two = data["settings"]
    assert one["tags"] == two["tags"] and one["p"] == two["p"]  # the same verdicts, relabelled


# --- in the browser ----------------------------------------------------------------------


def test_overview_equals_agreement_csv_without_console_errors(runs, open_page):
    page = open_page(runs["run"] / "report.html")
    table = pl.read_csv(runs["run"] / "agreement.csv", schema_overrides={"frames": pl.String})
    rows = page.eval_on_selector_all(
        "#agreement-table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
    )
    header = page.eval_on_selector_all("#agreement-table th", "hs => hs.map(h => h.textContent)")
    cells = {(r[0], r[1], header[i]): r[i] for r in rows for i in range(2, len(r))}
    for row in table.iter_rows(named=True):
        cell = cells[(row["judge"], row["dimension"], row["frames"])]
        assert cell.startswith(agreement_cell(row)), (cell, agreement_cell(row))
        assert ("⚠" in cell) == bool(row["n_errors"]), cell
    md = (runs["run"] / "agreement.md").read_text()
    for r in rows:  # the same cells as agreement.md
        assert "| " + " | ".join(r) + " |" in md
    flags = page.locator(".flag").all_text_contents()
    assert len(flags) == table.filter(pl.col("n_errors") > 0).height > 0
    assert (
        page.locator(".figures img").count()
        == len(list((runs["run"] / "figures").glob("*.svg")))
        > 0
    )
    assert page.locator("#ceiling-table").count() == 1
    assert page.problems == []


@pytest.mark.parametrize("judge", ["psnr", "gpt4o"])
def test_filters_show_exactly_the_pairs_the_verdicts_table_says(runs, open_page, judge):
    page = open_page(runs["run"] / "report.html", "#pairs")
    verdicts = pl.read_parquet(runs["run"] / "verdicts.parquet")
    outcomes = {
        "disagreements": pl.col("human").is_not_null() & ~pl.col("match"),
        "agreements": pl.col("human").is_not_null() & pl.col("match"),
        "judge_ties": pl.col("winner") == "tie",
        "human_ties": pl.col("human") == "tie",
        "errors": pl.col("status").is_in(["refused", "unparsed", "error"]),
        "all": pl.lit(True),
    }
    page.select_option("#f-judge", judge)
    seen_nonempty = 0
    for dim in ("informativeness", "aesthetics"):
        page.select_option("#f-dimension", dim)
        for frames in ("1", "2"):
            page.select_option("#f-frames", frames)
            for outcome, rule in outcomes.items():
                page.select_option("#f-outcome", outcome)
                shown = page.eval_on_selector_all(
                    "#page-list li", "ls => ls.map(l => l.dataset.pair)"
                )
                want = verdicts.filter(
                    (pl.col("judge") == judge)
                    & (pl.col("dimension") == dim)
                    & (pl.col("frames") == int(frames))
                    & rule.fill_null(False)
                )["pair_id"]
                assert sorted(shown) == sorted(want.to_list()), (dim, frames, outcome)
                seen_nonempty += bool(shown)
    assert seen_nonempty >= 12
    if judge == "gpt4o":  # the unparsed replies exist and are listed as errors
        assert verdicts.filter(pl.col("status") == "unparsed").height > 0
    assert page.problems == []


def test_generator_and_prompt_filters(runs, open_page):
    page = open_page(runs["run"] / "report.html", "#pairs")
    page.select_option("#f-outcome", "all")
    first = runs["records"][0]["pair_id"]
    page.fill("#f-prompt", "RED FOX")
    assert page.eval_on_selector_all("#page-list li", "ls => ls.map(l => l.dataset.pair)") == [
        first
    ]
    page.fill("#f-prompt", "")
    page.select_option("#f-generator", label="gen-a")
    shown = page.eval_on_selector_all("#page-list li", "ls => ls.map(l => l.dataset.pair)")
    want = [
        r["pair_id"]
        for r in runs["records"]
        if "gen-a" in (r["video_0"]["generated_from"], r["video_1"]["generated_from"])
    ]
    assert sorted(shown) == sorted(want) and 0 < len(want) < 12


def _times(page):
    return page.evaluate(
        "[...document.querySelectorAll('#pair video')].map(v => "
        "({t: v.currentTime, d: v.duration, paused: v.paused}))"
    )


def _ready(page):
    _wait(
        page,
        "[...document.querySelectorAll('#pair video')].length === 2 && "
        "[...document.querySelectorAll('#pair video')].every(v => v.readyState >= 2)",
    )


def test_synchronized_playback(runs, open_page):
    page = open_page(runs["run"] / "report.html", "#pairs")
    page.select_option("#f-outcome", "all")
    # a pair whose videos differ in length, so holding the last frame is visible
    for _ in range(12):
        _ready(page)
        v = _times(page)
        if abs(v[0]["d"] - v[1]["d"]) > 0.2:
            break
        page.click("#next")
    v = _times(page)
    assert abs(v[0]["d"] - v[1]["d"]) > 0.2, v
    fps = page.evaluate("window.__report.player.fps")
    page.click("#play")
    _wait(
        page,
        "[...document.querySelectorAll('#pair video')].every(v => !v.paused && v.currentTime > 0)",
    )
    page.click("#play")  # pause
    a = _times(page)
    assert all(x["paused"] for x in a)
    page.wait_for_timeout(300)
    b = _times(page)
    assert [x["t"] for x in a] == [x["t"] for x in b]  # stopped, both
    assert abs(b[0]["t"] - b[1]["t"]) <= 1 / fps
    # seek by a keyframe thumbnail on either timeline
    for thumb in page.locator(".timeline .kf").all():
        thumb.click()
        t = _times(page)
        frame = int(thumb.get_attribute("data-frame"))
        want = (frame + 0.5) / fps
        for x in t:
            assert x["t"] == pytest.approx(min(want, x["d"]), abs=1e-3)
    # seek by the scrub bar: within one frame of each other, or the shorter held at its end
    for value in ("250", "700", "1000"):
        page.eval_on_selector(
            "#scrub", f"s => {{ s.value = '{value}'; s.dispatchEvent(new Event('input')); }}"
        )
        t = _times(page)
        longest = max(x["d"] for x in t)
        target = int(value) / 1000 * longest
        for x in t:
            assert x["t"] == pytest.approx(min(target, x["d"]), abs=1e-3)
        shorter = min(t, key=lambda x: x["d"])
        if target >= shorter["d"]:
            assert shorter["t"] == pytest.approx(shorter["d"], abs=1e-3)  # holds its last frame
        else:
            assert abs(t[0]["t"] - t[1]["t"]) <= 1 / fps
    # frame step and speed
    page.eval_on_selector("#scrub", "s => { s.value = '0'; s.dispatchEvent(new Event('input')); }")
    page.click("#step-fwd")
    page.click("#step-fwd")
    assert [x["t"] for x in _times(page)] == pytest.approx([2 / fps, 2 / fps], abs=1e-3)
    page.click("#step-back")
    assert [x["t"] for x in _times(page)] == pytest.approx([1 / fps, 1 / fps], abs=1e-3)
    page.select_option("#speed", "0.5")
    assert page.evaluate(
        "[...document.querySelectorAll('#pair video')].map(v => v.playbackRate)"
    ) == [0.5, 0.5]
    assert page.problems == []


def test_script_in_prompt_and_reply_is_text_and_runs_nothing(runs, open_page):
    page = open_page(runs["run"] / "report.html", "#pairs")
    page.select_option("#f-judge", "gpt4o")
    page.select_option("#f-outcome", "all")
    first = runs["records"][0]["pair_id"]
    page.click(f'#page-list li[data-pair="{first}"]')
    assert page.text_content("#prompt") == PAYLOAD
    replies = page.locator("#verdicts td.reply").all_text_contents()
    assert any(PAYLOAD in r for r in replies), replies  # the reply text, as text
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#pair img[src='x'], #pair script").count() == 0
    assert page.problems == []


def test_missing_video_shows_a_placeholder_naming_the_file(runs, open_page):
    page = open_page(runs["missing"] / "report.html", "#pairs")
    page.select_option("#f-outcome", "all")
    page.click(f'#page-list li[data-pair="{runs["missing_pair"]}"]')
    placeholder = page.locator("#pair .placeholder")
    assert placeholder.count() == 1
    assert "video missing" in placeholder.text_content()
    assert runs["missing_name"] in placeholder.text_content()
    assert page.locator("#pair video").count() == 1  # the other video still plays
    assert page.problems == []


def test_keyboard_navigation(runs, open_page):
    page = open_page(runs["run"] / "report.html", "#pairs")
    page.select_option("#f-outcome", "all")
    page.locator("body").click(position={"x": 5, "y": 5})
    ids = page.eval_on_selector_all("#page-list li", "ls => ls.map(l => l.dataset.pair)")
    current = lambda: page.get_attribute("#page-list li.current", "data-pair")  # noqa: E731
    assert current() == ids[0]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("j")
    assert current() == ids[2]
    page.keyboard.press("k")
    assert current() == ids[1]
    page.keyboard.press("ArrowLeft")
    assert current() == ids[0]
    _ready(page)
    page.keyboard.press(" ")
    _wait(page, "[...document.querySelectorAll('#pair video')].every(v => !v.paused)")
    page.keyboard.press(" ")
    assert all(x["paused"] for x in _times(page))
    page.keyboard.press(".")
    fps = page.evaluate("window.__report.player.fps")
    t = _times(page)
    assert abs(t[0]["t"] - t[1]["t"]) <= 1 / fps
    assert page.problems == []


def test_harm_browser_shows_people_and_judge_tags(runs, open_page):
    page = open_page(runs["harm"] / "report.html", "#pairs")
    verdicts = pl.read_parquet(runs["harm"] / "harm_verdicts.parquet")
    page.select_option("#f-outcome", "all")
    shown = page.eval_on_selector_all("#page-list li", "ls => ls.map(l => l.dataset.pair)")
    assert sorted(shown) == sorted(verdicts["item_id"].to_list())[: len(shown)] or set(
        shown
    ) <= set(verdicts["item_id"])
    row = verdicts.filter(pl.col("item_id") == shown[0]).row(0, named=True)
    cells = page.eval_on_selector_all(
        "#tags tbody tr",
        "rs => rs.map(r => [r.dataset.tag, ...[...r.cells].map(c => c.textContent)])",
    )
    word = {True: "yes", False: "no", None: "—"}
    for tag, _, people, judge in cells:
        assert people == word[row[f"human_{tag}"]] and judge == word[row[f"judge_{tag}"]], tag
    assert len(cells) == 13
    page.select_option("#f-category", "violence")
    page.select_option("#f-outcome", "disagreements")
    shown = page.eval_on_selector_all("#page-list li", "ls => ls.map(l => l.dataset.pair)")
    want = verdicts.filter(pl.col("human_violence").is_not_null()
                           & (pl.col("human_violence") != pl.col("judge_violence")))  # fmt: skip
    assert sorted(shown) == sorted(want["item_id"].to_list())
    assert page.problems == []


def test_report_command_rebuilds_the_page(runs, tmp_path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "experiments" / "report.py"
    res = subprocess.run(
        [sys.executable, str(script), "--html", str(runs["run"]), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "JUDGES_CACHE_DIR": str(runs["cache"])},
    )
    assert res.returncode == 0, res.stderr
    assert (
        _data(tmp_path / "report.html")["settings"]
        == _data(runs["run"] / "report.html")["settings"]
    )
    res = subprocess.run(
        [sys.executable, str(script), "--html", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "not a run folder" in res.stderr


@pytest.fixture(scope="module")
def served(runs, tmp_path_factory):
    """A run on VP9 videos (natively playable: no previews), and a static server on 127.0.0.1."""
    import functools
    import http.server
    import threading

    from judges.media.previews import preview_for

    root = tmp_path_factory.mktemp("served")
    data = root / "data"
    records = runs["records"][:3]
    for r in records:
        for side in ("video_0", "video_1"):
            source = runs["data"] / r[side]["video_path"]
            target = data / "videos" / (r[side]["video_id"] + ".webm")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(preview_for(source, runs["cache"]), target)
            r[side]["video_path"] = f"videos/{target.name}"
    (data / "config-test.json").write_text(json.dumps(records))
    result = run_agreement(
        AgreementConfig(
            judges=[JudgeRequest("psnr")],
            frames="1",
            data=data / "config-test.json",
            out=root / "results",
            run_id="vp9",
            cache_dir=runs["cache"],
            progress=False,
            stats=BootstrapConfig(resamples=0),
            report=None,
        ),
        log=lambda _: None,
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))  # data/ and results/ side by side
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"run": result.run_dir, "root": root, "url": f"http://127.0.0.1:{server.server_port}"}
    server.shutdown()


def test_videos_play_from_a_url_prefix_and_from_copies(served, runs, browser):
    run, url = served["run"], served["url"]
    pages = {
        # by default: relative paths, the server holding the run and the dataset side by side
        "relative": write_html_report(run, run / "rel", HtmlReportOptions(cache_dir=runs["cache"])),
        # a served dataset: the prefix stands for the data file's folder
        "prefix": write_html_report(
            run,
            run / "pre",
            HtmlReportOptions(video_url_prefix=url + "/data/", cache_dir=runs["cache"]),
        ),
        # a portable folder: the videos linked beside the page
        "copies": write_html_report(
            run, run / "cp", HtmlReportOptions(copy_videos=True, cache_dir=runs["cache"])
        ),
    }
    for how, page_path in pages.items():
        page = browser.new_page()
        problems = []
        page.on("console", lambda m, p=problems: p.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/{page_path.relative_to(served['root']).as_posix()}#pairs")
        page.select_option("#f-outcome", "all")
        _wait(page, "[...document.querySelectorAll('#pair video')].every(v => v.readyState >= 2)")
        srcs = page.eval_on_selector_all("#pair video", "vs => vs.map(v => v.currentSrc)")
        assert len(srcs) == 2 and all(s.startswith(url) and s.endswith(".webm") for s in srcs)
        if how == "prefix":
            assert all(s.startswith(url + "/data/videos/") for s in srcs)
        if how == "copies":
            assert all("/report_files/videos/" in s for s in srcs)
        page.click("#play")
        _wait(page, "[...document.querySelectorAll('#pair video')].every(v => !v.paused)")
        page.click("#play")
        assert problems == [], how
        page.close()


def test_non_finite_numbers_become_null(runs, tmp_path):
    """safesora_compat PSNR gives inf for identical frames; JSON has no inf, the page shows none."""
    folder = tmp_path / "run"
    shutil.copytree(runs["run"], folder, ignore=shutil.ignore_patterns("report*"))
    verdicts = pl.read_parquet(folder / "verdicts.parquet")
    first = verdicts.with_row_index().filter(pl.col("judge") == "psnr")["index"][0]
    verdicts = verdicts.with_columns(
        score_0=pl.when(pl.int_range(pl.len()) == first)
        .then(float("inf"))
        .otherwise(pl.col("score_0")),
        confidence=pl.when(pl.int_range(pl.len()) == first)
        .then(float("nan"))
        .otherwise(pl.col("confidence")),
    )
    verdicts.write_parquet(folder / "verdicts.parquet")
    data = _data(write_html_report(folder, options=HtmlReportOptions(cache_dir=runs["cache"])))
    row = verdicts.row(first, named=True)
    setting = next(
        s
        for s in data["settings"]
        if (s["judge"], s["dimension"], s["n"]) == (row["judge"], row["dimension"], row["frames"])
    )
    ids = data["pairs"]["id"]
    pairs = list(itertools.accumulate(setting["p"]))
    i = pairs.index(ids.index(row["pair_id"]))
    assert setting["s0"][i] is None and setting["c"][i] is None
    assert setting["s1"][i] == float(f"{row['score_1']:.4g}")


def test_the_address_keeps_the_place(runs, open_page):
    page = open_page(runs["run"] / "report.html", "#pairs")
    page.select_option("#f-judge", "gpt4o")
    page.select_option("#f-dimension", "aesthetics")
    page.select_option("#f-frames", "2")
    page.select_option("#f-outcome", "all")
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("j")
    pair = page.get_attribute("#page-list li.current", "data-pair")
    link = page.evaluate("location.hash")
    assert link.startswith("#pairs?") and "judge=gpt4o" in link and "dimension=aesthetics" in link
    again = open_page(runs["run"] / "report.html", link)  # a shared link opens the same place
    assert again.get_attribute("#page-list li.current", "data-pair") == pair
    assert [again.input_value(f"#f-{k}") for k in ("judge", "dimension", "frames", "outcome")] == [
        "gpt4o",
        "aesthetics",
        "2",
        "all",
    ]
    assert again.is_visible("#browser") and again.text_content("#prompt")
    bad = open_page(runs["run"] / "report.html", "#pairs?judge=%3Cscript%3E&pair=nope")
    assert bad.input_value("#f-judge") == "psnr" and bad.problems == []


def test_packed_data_is_reused_only_while_its_inputs_are_unchanged(runs, tmp_path, monkeypatch):
    import judges.report.html_report as html_report
    from judges.report.page_reuse import page_key

    run = tmp_path / "run"
    shutil.copytree(runs["run"], run, ignore=shutil.ignore_patterns("report*"))
    options = HtmlReportOptions(cache_dir=runs["cache"])
    store = runs["cache"] / "report_data"
    key = page_key(run, json.loads((run / "run.json").read_text()))
    (store / f"{key}.data").unlink(missing_ok=True)
    fresh = write_html_report(run, tmp_path / "a", options).read_bytes()  # packed and kept
    assert (store / f"{key}.data").is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("packed again")

    with monkeypatch.context() as mp:
        mp.setattr(html_report, "report_data", refuse)
        reused = write_html_report(run, tmp_path / "b", options).read_bytes()
        assert reused == fresh  # byte for byte the page packed afresh
        # Another run id (run.json is not an input): reused, with this run's id.
        info = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**info, "run_id": "other"}))
        page = write_html_report(run, tmp_path / "c", options)
        assert _data(page)["run_id"] == "other" and "t2v-judges report: other" in page.read_text()
        # A changed table is a new key: packed again.
        table = (run / "agreement.csv").read_text()
        pl.read_csv(run / "agreement.csv").with_columns(pl.col("agreement") / 2).write_csv(
            run / "agreement.csv"
        )
        with pytest.raises(AssertionError, match="packed again"):
            write_html_report(run, tmp_path / "d", options)
    changed = _data(write_html_report(run, tmp_path / "d", options))
    assert changed["overview"] != _data(tmp_path / "a" / "report.html")["overview"]
    # A damaged kept entry is packed again, never trusted.
    (run / "agreement.csv").write_text(table)
    (run / "run.json").write_text(json.dumps(info))
    whole = (store / f"{key}.data").read_text(encoding="utf-8")
    (store / f"{key}.data").write_text('{"order": ["kind", "overview"], "lengths": {}}\n')
    assert write_html_report(run, tmp_path / "e", options).read_bytes() == fresh
    assert (store / f"{key}.data").read_text(encoding="utf-8") == whole  # kept again, whole
    # Cut short (a full disk, a crash mid-copy): packed again, never a truncated page.
    (store / f"{key}.data").write_text(whole[: len(whole) // 2], encoding="utf-8")
    assert write_html_report(run, tmp_path / "f", options).read_bytes() == fresh
    assert (store / f"{key}.data").read_text(encoding="utf-8") == whole


def test_a_page_whose_data_fails_to_encode_leaves_the_old_page_and_no_temporary_file(tmp_path):
    from judges.report.html_page import render_page

    target = tmp_path / "report.html"
    render_page({"run_id": "first", "x": [1.0]}, target)
    first = target.read_bytes()
    with pytest.raises(ValueError):  # NaN is not JSON: the page's encoder refuses it
        render_page({"run_id": "second", "x": [float("nan")]}, target)
    assert target.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


@pytest.mark.parametrize("n", [0, 1, 4095, 4096, 4097, 9000])
def test_page_pieces_join_to_json_dumps_across_batch_boundaries(n):
    # Long lists are encoded a batch of members at a time: the joined pieces must still be
    # exactly json.dumps of the whole, with the script escapes.
    import random

    from judges.report.html_page import script_pieces

    rng = random.Random(n)
    data = {
        "numbers": [rng.random() for _ in range(n)],
        "pairs": [{"id": i, "prompt": "<a & b>"} for i in range(n)],
        "columns": {"frames": list(range(n)), "nested": [[i, None] for i in range(n)]},
    }
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        expected = expected.replace(char, code)
    assert "".join(script_pieces(data)) == expected
