"""Helpers for tests/test_browser.py: a throw-away JupyterLab server and a headless Chromium.

Nothing here is a test. The server runs from this Python environment on 127.0.0.1 with a random port,
a random token and a temporary root folder; Chromium is Debian's (`chromium` + `chromium-driver`).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver",)

# Lab settings for the test server: no news pop-up over the page, every cell kept in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def find_chromium() -> tuple[str, str] | None:
    """(chromium binary, chromedriver) if both are installed, else None."""
    binary = next((p for p in CHROMIUM_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("chromium")
    driver = next((p for p in DRIVER_CANDIDATES if os.access(p, os.X_OK)), None) or shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """`jupyter lab` in a subprocess, serving `root` (a temporary folder)."""

    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = home / "jupyter-lab.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "LabServer":
        settings = self.home / "lab-settings"
        for name, value in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = dict(os.environ, COURSE_DEVICE="cpu", JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.home / "lab-workspaces"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"), PYTHONUNBUFFERED="1",
                   MPLBACKEND="module://matplotlib_inline.backend_inline")
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
                   "--ServerApp.open_browser=False", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                   f"--ServerApp.root_dir={self.root}", "--ServerApp.disable_check_xsrf=True",
                   "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
                   "jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}api/status?token={self.token}", timeout=5) as r:
                    if r.status == 200:
                        return self
            time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}api/{path}?token={self.token}", method=method)
        with urllib.request.urlopen(request, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every session and kernel, so each notebook starts a fresh kernel and memory stays low."""
        with contextlib.suppress(Exception):
            for session in self.api("sessions"):
                self.api(f"sessions/{session['id']}", method="DELETE")
        with contextlib.suppress(Exception):
            for kernel in self.api("kernels"):
                self.api(f"kernels/{kernel['id']}", method="DELETE")

    def log_tail(self, chars: int = 6000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.shutdown_kernels()
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()


def make_driver(binary: str, driver_path: str, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                     "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    # Headless Chromium 150 gives the page no focus (document.hasFocus() is false), and JupyterLab picks its
    # current notebook (shell.currentWidget, what "run all cells" acts on) by focus: without this the notebook
    # opens but never becomes current, and every notebook test times out.
    driver.execute_cdp_cmd("Emulation.setFocusEmulationEnabled", {"enabled": True})
    driver.set_window_size(1400, 1000)
    driver.set_script_timeout(120)
    driver.set_page_load_timeout(120)
    return driver


def copy_notebook(source: Path, folder: Path) -> Path:
    """Copy a notebook with its outputs and saved widget state cleared, and notebooks/quizzes/ and results/ beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    for beside in ("quizzes", "results"):   # the quiz files, and the stored sweeps (cu.load_or_run)
        if (source.parent / beside).is_dir():
            shutil.copytree(source.parent / beside, folder / beside, dirs_exist_ok=True)
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    target = folder / source.name
    nbformat.write(nb, target)
    return target


def save_failure(driver, name: str, server: LabServer | None = None, extra: str = "") -> list[Path]:
    """Screenshot, browser console and server log of a failed test, in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    stem = ARTIFACTS / "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    saved = []
    with contextlib.suppress(Exception):
        driver.save_screenshot(f"{stem}.png")
        saved.append(Path(f"{stem}.png"))
    with contextlib.suppress(Exception):
        lines = [f"{e.get('level')} {e.get('message')}" for e in driver.get_log("browser")]
        Path(f"{stem}.console.log").write_text("\n".join(lines) + "\n" + extra)
        saved.append(Path(f"{stem}.console.log"))
    if server is not None:
        Path(f"{stem}.server.log").write_text(server.log_tail(50000))
        saved.append(Path(f"{stem}.server.log"))
    return saved
