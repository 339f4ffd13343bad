"""Print the built book to one PDF with headless Chromium (``make pdf``), offline.

Usage: ``python book/_tools/print_pdf.py book/_build/html book/_build/pdf/vaelearn-book.pdf``

The pages are found in reading order by following each page's "next" link from the root page
(the order of ``_toc.yml``), served from 127.0.0.1, printed one by one with Chromium's
``--print-to-pdf`` (MathJax is served with the book, so math is typeset before printing), and
joined with pypdf. Prints the number of pages of the result.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
    # virtual time lets MathJax finish typesetting before the page is printed
    "--virtual-time-budget=20000",
]
NEXT = re.compile(r'<a[^>]*class="[^"]*right-next[^"]*"[^>]*href="([^"]+)"|'
                  r'<a[^>]*href="([^"]+)"[^>]*class="[^"]*right-next[^"]*"')
ROOT_PAGE = re.compile(r'url=([^"\']+)', re.I)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def reading_order(html_dir: Path) -> list[str]:
    """Relative paths of the book's pages, root first, following the "next" links."""
    index = (html_dir / "index.html").read_text(encoding="utf-8")
    m = ROOT_PAGE.search(index)
    page = m.group(1).strip() if m else "index.html"
    order, seen = [], set()
    while page and page not in seen:
        seen.add(page)
        order.append(page)
        text = (html_dir / page).read_text(encoding="utf-8")
        nxt = NEXT.search(text)
        if not nxt:
            break
        href = urldefrag(nxt.group(1) or nxt.group(2))[0]
        page = urljoin("http://x/" + page, href)[len("http://x/"):]
    return order


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    html_dir, out = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    chromium = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )
    if chromium is None:
        print("make pdf needs Chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    from pypdf import PdfWriter

    pages = reading_order(html_dir)
    handler = functools.partial(_Quiet, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = PdfWriter()
    try:
        with tempfile.TemporaryDirectory(prefix="vaelearn-pdf-") as tmp:
            for i, page in enumerate(pages):
                part = Path(tmp) / f"{i:03d}.pdf"
                profile = Path(tmp) / f"profile-{i:03d}"
                subprocess.run(
                    [chromium, *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={part}",
                     base + page],
                    check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180,
                )
                writer.append(str(part), outline_item=page.removesuffix(".html"))
            with open(out, "wb") as fh:
                writer.write(fh)
    finally:
        httpd.shutdown()
    n = len(writer.pages)
    print(f"{out}: {n} pages from {len(pages)} HTML pages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
