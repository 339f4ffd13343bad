"""Print the built book to one PDF with headless Chromium (``make pdf``), offline.

Usage: ``python book/_tools/print_pdf.py book/_build/html book/_build/pdf/vaelearn-book.pdf``

The pages are found in reading order by following each page's "next" link from the root page
(the order of ``_toc.yml``), served from 127.0.0.1 and printed one by one by the project's
Chromium driver (``book/_tools/chromium.py``, the one ``tests/test_book.py`` uses) once MathJax,
served with the book, has typeset them; pypdf joins them. Prints the number of pages of the
result.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from urllib.parse import urldefrag, urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import Chromium, find_chromium, serve  # noqa: E402

NEXT = re.compile(r'<a[^>]*class="[^"]*right-next[^"]*"[^>]*href="([^"]+)"|'
                  r'<a[^>]*href="([^"]+)"[^>]*class="[^"]*right-next[^"]*"')
ROOT_PAGE = re.compile(r'url=([^"\']+)', re.I)


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
    chromium = find_chromium()
    if chromium is None:
        print("make pdf needs Chromium (apt-get install chromium)", file=sys.stderr)
        return 1
    from pypdf import PdfWriter

    pages = reading_order(html_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = PdfWriter()
    with serve(html_dir) as base, Chromium(chromium) as browser:
        for page in pages:
            browser.open(base + page, timeout=180)
            writer.append(io.BytesIO(browser.print_pdf()), outline_item=page.removesuffix(".html"))
    with open(out, "wb") as fh:
        writer.write(fh)
    n = len(writer.pages)
    print(f"{out}: {n} pages from {len(pages)} HTML pages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
