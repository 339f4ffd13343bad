"""The source post's reading list against the book's bibliography (issue 19).

The README promises that the lessons cite the post the book follows and "the papers it draws on",
and that the bibliography lists them all. This test holds that promise to the post's own
reference list: every entry of it that is a paper or a book must have an entry in
``book/references.bib`` and be cited (``{cite}``) in at least one lesson or book page.

The list below is copied by hand from the "References" section at the end of the source post
(Boris Burkov, "Variational Autoencoder (VAE)", 31 December 2022; ``burkov2022``), in the post's
order, so that the test needs no file outside the repository. arXiv papers are matched by their
identifier anywhere in an entry (``eprint``, ``note`` or ``url``, as the entries write it); papers
without one are matched by the key stated here. Entries of the post's list that are not papers or
books are listed in ``NOT_PAPERS`` with the reason, so that the whole list is accounted for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "book" / "references.bib"

# (what the post links, how the bibliography holds it): ("arxiv", id) or ("key", bibtex key)
POST_PAPERS = [
    # Autoencoders
    ("jmlr.org/papers/volume11/vincent10a - stacked denoising AEs", ("key", "vincent2010")),
    ("researchgate ... NL PCA by using ANN - Kramer's nonlinear PCA", ("key", "kramer1991")),
    ("researchgate 272086159 - static hand gestures, stacked denoising sparse AEs",
     ("key", "kumar2014gesture")),
    ("arxiv 1511.06406 - denoising VAE", ("arxiv", "1511.06406")),
    # Bayesian ML, VAE and variants
    ("stats.ox.ac.uk ... WelTeh2011a.pdf - Welling & Teh, SGLD", ("key", "welling2011sgld")),
    ("arxiv 1312.6114 - Kingma & Welling, the VAE", ("arxiv", "1312.6114")),
    ("arxiv 1606.05328 - PixelCNN decoders", ("arxiv", "1606.05328")),
    ("arxiv 1711.00937 - VQ-VAE", ("arxiv", "1711.00937")),
    ("arxiv 1812.02833 - disentangling disentanglement", ("arxiv", "1812.02833")),
    ("arxiv 2110.03318 - latent holes of VAEs for text", ("arxiv", "2110.03318")),
    # openreview r1xaVLUYuE is the ICLR 2019 workshop paper of Lucas, Tucker, Grosse and Norouzi
    # on posterior collapse; lucas2019 is the same authors' extended NeurIPS 2019 version of it,
    # which the lessons cite.
    ("openreview r1xaVLUYuE - posterior collapse (Lucas et al.)", ("key", "lucas2019")),
    ("robots.ox.ac.uk ... ppca.pdf - probabilistic PCA (Tipping & Bishop)", ("key", "tipping1999")),
    ("arxiv 1907.06845 - the continuous Bernoulli", ("arxiv", "1907.06845")),
]

# The rest of the post's list, with why it is not a paper or a book (the bibliography holds
# papers and books only).
NOT_PAPERS = {
    "en.wikipedia.org/wiki/Autoencoder": "encyclopedia article",
    "cedar.buffalo.edu ... 14.2 Denoising Autoencoders.pdf": "lecture slides",
    "gregorygundersen.com/blog/2021/04/16/variational-inference": "blog post",
    "gregorygundersen.com/blog/2019/11/10/em": "blog post",
    "towardsdatascience.com ... difference-between-autoencoder-ae-and-vae": "blog post",
    "chrischoy.github.io ... Expectation-Maximization-and-Variational-Inference": "blog post",
    "youtube xH1mBw3tb_c": "video lecture",
    "youtube 9zKuYvjFFS8": "video",
    "pyro.ai/examples/svi_part_i.html": "tutorial",
    "ai.stackexchange 8885": "Q&A thread",
    "datascience.stackexchange 48962": "Q&A thread",
    "stats.stackexchange 347378": "Q&A thread",
    "youtube oHtqlRIsXcQ": "video of a talk",
    "tensorflow.org ... Probabilistic_PCA": "tutorial",
}

# The arXiv identifiers the post's list links, as the post writes them (arxiv.org/pdf/<id>.pdf).
POST_ARXIV_IDS = {"1511.06406", "1312.6114", "1606.05328", "1711.00937", "1812.02833",
                  "2110.03318", "1907.06845"}

ENTRY = re.compile(r"^@(\w+)\s*\{\s*([^,\s]+)\s*,(.*?)^\}", re.MULTILINE | re.DOTALL)
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def parse_bib(text: str) -> dict[str, str]:
    """``{key: body}`` for every ``@type{key, ...}`` entry (body: the text of its fields)."""
    return {m.group(2): m.group(3) for m in ENTRY.finditer(text)}


def entry_for(bib: dict[str, str], how: tuple[str, str]) -> str | None:
    """The key of the entry that holds a paper, or None."""
    kind, value = how
    if kind == "key":
        return value if value in bib else None
    pattern = re.compile(r"(?<![\d.])" + re.escape(value) + r"(?![\d])")
    hits = [key for key, body in bib.items() if pattern.search(body)]
    return hits[0] if hits else None


def cited_keys(root: Path) -> set[str]:
    """Keys cited with ``{cite}`` in the lessons' markdown cells and the book's pages."""
    texts = []
    for path in sorted((root / "lessons").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        texts += ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    texts += [p.read_text(encoding="utf-8") for p in sorted((root / "book").rglob("*.md"))]
    keys = set()
    for text in texts:
        for group in CITE.findall(text):
            keys.update(k.strip() for k in group.split(","))
    return keys


def missing(root: Path) -> list[str]:
    """One line per paper of the post's list that lacks an entry or a citation."""
    bib = parse_bib((root / "book" / "references.bib").read_text(encoding="utf-8"))
    cited = cited_keys(root)
    problems = []
    for what, how in POST_PAPERS:
        key = entry_for(bib, how)
        if key is None:
            problems.append(f"no bibliography entry for {how[0]} {how[1]!r} ({what})")
        elif key not in cited:
            problems.append(f"entry {key!r} ({what}) is never cited with {{cite}}")
    return problems


# The post's reference list has 27 entries (counted when the list above was copied).
POST_LIST_LENGTH = 27


def test_list_accounts_for_the_whole_reference_list():
    assert len(POST_PAPERS) + len(NOT_PAPERS) == POST_LIST_LENGTH
    assert len({what for what, _ in POST_PAPERS}) == len(POST_PAPERS)


def test_list_accounts_for_every_arxiv_id_of_the_post():
    listed = {how[1] for _, how in POST_PAPERS if how[0] == "arxiv"}
    assert listed == POST_ARXIV_IDS


def test_every_paper_of_the_post_has_an_entry_and_is_cited():
    problems = missing(ROOT)
    assert not problems, "\n".join(problems)


# --- the checks can fail ------------------------------------------------------------------------


def _fake_repo(tmp_path: Path, bib: str, lesson_md: str, page_md: str = "") -> Path:
    (tmp_path / "book").mkdir(parents=True)
    (tmp_path / "lessons").mkdir()
    (tmp_path / "book" / "references.bib").write_text(bib, encoding="utf-8")
    (tmp_path / "book" / "page.md").write_text(page_md, encoding="utf-8")
    nb = {"cells": [{"cell_type": "markdown", "source": [lesson_md]},
                    {"cell_type": "code", "source": ["# {cite}`inacode`"]}]}
    (tmp_path / "lessons" / "01_x.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return tmp_path


def test_parser_reads_keys_and_fields():
    bib = parse_bib("@misc{a1,\n  note = {arXiv:1312.6114 (2013)}\n}\n\n"
                    "@article{b2,\n  title = {{Nested} braces},\n  eprint = {2110.03318}\n}\n")
    assert set(bib) == {"a1", "b2"}
    assert entry_for(bib, ("arxiv", "1312.6114")) == "a1"
    assert entry_for(bib, ("arxiv", "2110.03318")) == "b2"
    # an identifier must match whole: 1312.61140 is another paper
    assert entry_for(parse_bib("@misc{c,\n  note = {arXiv:1312.61140}\n}\n"),
                     ("arxiv", "1312.6114")) is None
    assert entry_for(bib, ("key", "b2")) == "b2" and entry_for(bib, ("key", "zz")) is None


def _synthetic_bib() -> tuple[str, list[str]]:
    """One made-up entry per paper of the post's list, and their keys."""
    entries, keys = [], []
    for i, (_, (kind, value)) in enumerate(POST_PAPERS):
        key = value if kind == "key" else f"paper{i}"
        field = "title = {A {Title}}" if kind == "key" else f"note = {{arXiv:{value}}}"
        entries.append(f"@misc{{{key},\n  {field}\n}}\n")
        keys.append(key)
    return "\n".join(entries), keys


def test_missing_reports_absent_entries_and_uncited_ones(tmp_path):
    bib, keys = _synthetic_bib()
    # every paper has an entry and a citation: nothing missing
    repo = _fake_repo(tmp_path / "ok", bib, "see {cite}`" + ",".join(keys) + "`")
    assert missing(repo) == []
    # drop vincent2010's entry: reported as missing
    no_vincent = re.sub(r"@misc\{vincent2010,.*?^\}", "", bib, flags=re.MULTILINE | re.DOTALL)
    repo = _fake_repo(tmp_path / "drop", no_vincent, "see {cite}`" + ",".join(keys) + "`")
    assert missing(repo) == [
        "no bibliography entry for key 'vincent2010' (" + POST_PAPERS[0][0] + ")"]
    # drop the entry holding an arXiv id: reported by the id
    no_holes = bib.replace("arXiv:2110.03318", "arXiv:2110.0331")
    repo = _fake_repo(tmp_path / "id", no_holes, "see {cite}`" + ",".join(keys) + "`")
    assert [p for p in missing(repo)] == [
        "no bibliography entry for arxiv '2110.03318' (arxiv 2110.03318 - latent holes of VAEs "
        "for text)"]
    # present but named only in a code cell and without the role in a page: never cited
    others = ",".join(k for k in keys if k != "tipping1999")
    repo = _fake_repo(tmp_path / "uncited", bib, "see {cite}`" + others + "`",
                      page_md="tipping1999 named without a cite role")
    assert len(missing(repo)) == 1 and "'tipping1999'" in missing(repo)[0]
    assert "never cited" in missing(repo)[0]
    # a cite in a book page counts, {cite:p} too
    repo = _fake_repo(tmp_path / "page", bib, "see {cite}`" + others + "`",
                      page_md="{cite:p}`tipping1999`")
    assert missing(repo) == []


@pytest.mark.parametrize("arxiv_id", sorted(POST_ARXIV_IDS))
def test_arxiv_ids_are_well_formed(arxiv_id):
    assert re.fullmatch(r"\d{4}\.\d{4,5}", arxiv_id)


def unbalanced_entries(text: str) -> list[str]:
    """The entries whose braces do not balance (an unclosed entry swallows the next one)."""
    out = []
    for block in re.split(r"\n(?=@)", text):
        if block.lstrip().startswith("@") and block.count("{") != block.count("}"):
            out.append(block.strip().splitlines()[0])
    return out


def test_every_entry_is_closed():
    assert unbalanced_entries(BIB.read_text(encoding="utf-8")) == []
    # an entry without its closing brace is reported
    assert unbalanced_entries("@misc{a,\n  year = {2020}\n\n@misc{b,\n  year = {2021}\n}\n") == [
        "@misc{a,"]
