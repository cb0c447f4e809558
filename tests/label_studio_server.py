"""A real Label Studio server on 127.0.0.1 for round-trip tests, in its own environment.

Label Studio is a Django application with its own pinned dependencies, so it never joins the
project's environment: it is installed once into a separate virtual environment (reused between
runs, ``$JUDGES_LABEL_STUDIO_VENV`` or ``~/.cache/t2v-judges/label-studio-<version>``) and started
as a subprocess with a fresh data folder (whose database, after the first start on a machine, is a
copy of a migrated template: see :attr:`LabelStudio.template`). 1.23 disables legacy API tokens
by default; the admin's token is enabled here through the server's own settings
(``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN``), and further users sign up through an invite link and
work with a session, as people do.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

VERSION = "1.23.*"
TOKEN = "t2vjudges0123456789abcdef0123456789abcd"


def venv_dir() -> Path:
    default = Path.home() / ".cache" / "t2v-judges" / f"label-studio-{VERSION.strip('.*')}"
    return Path(os.environ.get("JUDGES_LABEL_STUDIO_VENV", default))


def install() -> tuple[Path | None, str]:
    """The ``label-studio`` executable, installing it if needed; ``(None, why)`` on failure."""
    root = venv_dir()
    exe = root / "bin" / "label-studio"
    if exe.is_file():
        return exe, "cached"
    uv = shutil.which("uv")
    try:
        if uv:
            cmds = [
                [uv, "venv", "-q", "--python", sys.executable, str(root)],
                [
                    uv,
                    "pip",
                    "install",
                    "-q",
                    "--python",
                    str(root / "bin" / "python"),
                    f"label-studio=={VERSION}",
                ],
            ]
        else:
            cmds = [
                [sys.executable, "-m", "venv", str(root)],
                [str(root / "bin" / "pip"), "install", "-q", f"label-studio=={VERSION}"],
            ]
        for cmd in cmds:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            if res.returncode != 0:
                shutil.rmtree(root, ignore_errors=True)
                return None, f"{' '.join(cmd[:3])} failed: {res.stderr.strip()[-300:]}"
    except (OSError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(root, ignore_errors=True)
        return None, f"installing label-studio failed: {e}"
    return (exe, "installed") if exe.is_file() else (None, "label-studio executable missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabelStudio:
    """A running server: ``with LabelStudio(exe, data_dir) as ls: ls.api("GET", ...)``."""

    def __init__(self, exe: Path, data_dir: Path) -> None:
        self.exe, self.data_dir = exe, data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def template(self) -> Path:
        """A database that Label Studio has migrated and given its admin, kept beside its venv.

        Migrating a new SQLite database is 25-30 s of CPU, most of a round-trip test; a copy of
        one migrated before (same Label Studio version: the template sits in that version's
        venv folder) starts in 5-7 s. The server still runs its own start-up on it (``migrate``
        finds nothing to do; the admin exists). Made once, from a fresh server before any test
        touched it, through SQLite's backup API (safe while the server runs).
        """
        return self.exe.parent.parent / "migrated-template.sqlite3"

    def _keep_template(self) -> None:
        if self.template.is_file():
            return
        tmp = self.template.with_suffix(f".{os.getpid()}.tmp")
        try:
            src = sqlite3.connect(self.data_dir / "label_studio.sqlite3")
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
            os.replace(tmp, self.template)
        except (OSError, sqlite3.Error):
            tmp.unlink(missing_ok=True)  # only a cache: the next session migrates again

    def __enter__(self) -> LabelStudio:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        database = self.data_dir / "label_studio.sqlite3"
        from_template = self.template.is_file() and not database.exists()
        if from_template:
            shutil.copyfile(self.template, database)
        # The port is picked free, then released for label-studio to bind (it cannot take a
        # bound socket). If another process takes it meanwhile, label-studio moves to the next
        # free port and says so in its log (followed here); if it loses the race at bind time
        # it exits, and the start is retried on a new port.
        for attempt in range(3):
            if self._start(attempt):
                if not from_template:
                    self._keep_template()
                return self
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        raise RuntimeError(f"label-studio could not bind a port: {self.log.read_text()[-2000:]}")

    def _start(self, attempt: int) -> bool:
        """Start the server; True once it answers, False when it lost its port (retry)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
            "DJANGO_DB": "sqlite",
            "LABEL_STUDIO_USERNAME": "admin@example.com",
            "LABEL_STUDIO_PASSWORD": "admin-secret-123",
            "LABEL_STUDIO_USER_TOKEN": TOKEN,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "SENTRY_DSN": "",
        }
        env.pop("HOST", None)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    *(str(self.exe), "start", "--no-browser"),
                    *("--internal-host", "127.0.0.1", "--port", str(self.port)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.data_dir,
            )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            moved = re.findall(r"Trying to start at (\d+)", text)
            if moved and int(moved[-1]) != self.port:
                self.port = int(moved[-1])
                self.url = f"http://127.0.0.1:{self.port}"
            if self.proc.poll() is not None:
                if "Address already in use" in text and attempt < 2:
                    return False
                raise RuntimeError(f"label-studio exited: {text[-2000:]}")
            try:
                self.api("GET", "/api/current-user/whoami")
                return True
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)  # polling a server that takes seconds to start; not a timing bet
        self.__exit__()
        raise RuntimeError(f"label-studio did not start in 240 s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the API as the admin (legacy token)."""
        req = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
        return json.loads(text) if text else None

    def sign_up(self, email: str, password: str) -> Session:
        """A new user who signed up through the organisation's invite link (a session)."""
        invite = self.api("GET", "/api/invite")["token"]
        session = Session(self.url)
        page = f"/user/signup/?token={invite}"
        session.open(page)
        session.open(
            page,
            urllib.parse.urlencode(
                {"email": email, "password": password, "csrfmiddlewaretoken": session.csrf}
            ).encode(),
            form=True,
        )
        return session


class Session:
    """A logged-in browser-like session: cookies and Django's CSRF token."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    @property
    def csrf(self) -> str:
        return {c.name: c.value for c in self.jar}.get("csrftoken", "")

    def open(self, path: str, data: bytes | None = None, form: bool = False) -> bytes:
        headers = {"Referer": self.url + "/", "X-CSRFToken": self.csrf}
        if data is not None:
            headers["Content-Type"] = (
                "application/x-www-form-urlencoded" if form else "application/json"
            )
        req = urllib.request.Request(self.url + path, data=data, headers=headers)
        with self.opener.open(req, timeout=60) as r:
            return r.read()

    def api(self, path: str, body: Any) -> Any:
        return json.loads(self.open(path, json.dumps(body).encode()))
