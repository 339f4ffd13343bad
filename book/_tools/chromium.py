"""The one headless-Chromium driver of the project: the book served offline and opened in a browser.

Used by ``book/_tools/print_pdf.py`` (``make pdf``: every page printed to PDF) and by
``tests/test_book.py`` (the built book checked in a real browser). Chromium is driven through the
DevTools protocol over a websocket (``websocket-client``); the book is served by
:mod:`http.server` on 127.0.0.1 (a free port), and every other host is made unresolvable, so a
page that needs the internet (MathJax from a CDN, a web font) fails the same way in both.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

EXECUTABLES = ("chromium", "chromium-browser", "google-chrome")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    # nothing but the local server resolves: the book must work offline
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--remote-allow-origins=*",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
]

# Resolves once MathJax (when the page has math) has typeset everything and the images are in.
WAIT_FOR_PAGE = r"""
(async () => {
  const t0 = Date.now();
  const ready = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
  const hasMath = document.querySelector('.math') !== null;
  while (hasMath && !ready() && Date.now() - t0 < 15000) {
    await new Promise(r => setTimeout(r, 100));
  }
  if (ready()) { await MathJax.startup.promise; }
  await Promise.all(Array.from(document.images).map(im => im.complete ? null :
      new Promise(r => { im.onload = r; im.onerror = r; })));
  return true;
})()
"""


def find_chromium() -> str | None:
    """The path of an installed Chromium (or Chrome), or None."""
    return next((p for p in map(shutil.which, EXECUTABLES) if p), None)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test and build output clean
        pass


@contextlib.contextmanager
def serve(directory: str | Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at a free port; yields the base URL (ends in ``/``)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


class Chromium:
    """Headless Chromium driven through the DevTools protocol over a websocket."""

    def __init__(self, executable: str):
        import websocket  # websocket-client (in the book and test extras)

        self.profile = tempfile.mkdtemp(prefix="vaelearn-chromium-")
        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self._id = 0
        self.send("Page.enable")
        self.send("Runtime.enable")

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, method: str, **params):
        """Send one DevTools command and return its result."""
        self._id += 1
        msg_id = self._id
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def open(self, url: str, timeout: float = 30.0) -> None:
        """Navigate and wait until this URL's document has fully loaded."""
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.evaluate("document.readyState + ' ' + location.href")
            if state == f"complete {url}":
                return
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not load in {timeout} s")

    def evaluate(self, expression: str):
        """Run ``expression`` in the page (promises awaited); its value, as JSON."""
        result = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def print_pdf(self) -> bytes:
        """The open page as PDF (Chromium's default paper size, backgrounds, no header or
        footer), once MathJax has typeset it and its images have loaded."""
        self.evaluate(WAIT_FOR_PAGE)
        result = self.send("Page.printToPDF", printBackground=True, displayHeaderFooter=False)
        return base64.b64decode(result["data"])

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
