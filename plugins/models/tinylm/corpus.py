"""The tinylm training corpus: clean English prose, split into training and held-out documents.

By default the corpus is the English Wikipedia sample and the Lee news corpus that ship inside
the gensim wheel (``gensim/test/test_data``), found through importlib and read in place. Users can
name their own files instead:

- ``*.bz2`` / ``*.xml``: a MediaWiki XML dump; wiki markup is stripped, headings, lists, tables
  and reference sections are dropped, only prose paragraphs are kept;
- ``*.cor``: one document per line;
- any other file: plain text, paragraphs separated by blank lines (cut into units of about
  ``DOC_WORDS`` words).

Whole source units (a Wikipedia article, a news item, a part of a text file) are assigned either to the
training set or to the held-out set, so held-out text shares no passage with training text.
Held-out documents are never trained on; they are the stimuli and task material for the demo.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.util
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import DataError, atomic_write_text, cache_root, cache_writable

WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
NEWS_SAMPLE = "lee_background.cor"
HELDOUT_FRACTION = 0.1  # share of words (by whole source units) kept out of training
DOC_WORDS = 600  # long articles are cut into documents of about this many words (whole paragraphs)
MIN_PARAGRAPH_WORDS = 12
CORPUS_VERSION = "1"  # bump when the cleaning changes, so caches keyed on the digest move on

_DROP_SECTIONS = {
    "see also", "references", "external links", "further reading", "notes", "bibliography",
    "sources", "footnotes", "citations", "works cited", "notes and references",
}


@dataclass(frozen=True)
class Corpus:
    """Training and held-out documents (plain prose) and a digest of their content."""

    train: list[str]
    heldout: list[str]
    digest: str

    def num_words(self) -> tuple[int, int]:
        """Words in the training and the held-out documents."""
        return sum(len(d.split()) for d in self.train), sum(len(d.split()) for d in self.heldout)


def default_sources() -> list[Path]:
    """The Wikipedia sample and the news corpus inside the installed gensim package."""
    spec = importlib.util.find_spec("gensim")  # found, not imported: importing gensim takes seconds
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - gensim is a dependency
        raise DataError("tinylm corpus: gensim is not installed; name corpus files in the 'corpus' option")
    base = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"
    paths = [base / WIKI_SAMPLE, base / NEWS_SAMPLE]
    for path in paths:
        if not path.is_file():
            raise DataError(
                f"tinylm corpus: {path} is missing from the gensim install; name corpus files in the 'corpus' option"
            )
    return paths


def load_corpus(sources: Sequence[Path] | None = None, seed: int = 0, *, cache_dir: Path | None = None) -> Corpus:
    """Read, clean and split the corpus; the same sources and seed always give the same split.

    Cleaned text is memoised under ``cache_dir`` (default: the harness cache) by file content.
    """
    paths = [Path(p) for p in sources] if sources else default_sources()
    units: list[list[str]] = []  # each unit: its prose paragraphs, kept together on one side
    for path in paths:
        if not path.is_file():
            raise DataError(f"tinylm corpus: no such file {path}")
        found = _cached_units(path, cache_dir)
        if not found:
            raise DataError(f"tinylm corpus: {path} holds no prose paragraphs of {MIN_PARAGRAPH_WORDS}+ words")
        units.extend(found)
    order = list(range(len(units)))
    random.Random(seed).shuffle(order)
    total = sum(_words(u) for u in units)
    heldout_ids: set[int] = set()
    held = 0
    for index in order:
        if held >= HELDOUT_FRACTION * total or len(heldout_ids) >= len(units) - 1:
            break
        heldout_ids.add(index)
        held += _words(units[index])
    # a paragraph that also occurs in a held-out unit (duplicates exist in the samples) stays out
    held_paragraphs = {p for i in heldout_ids for p in units[i]}
    train_units = [[p for p in u if p not in held_paragraphs] for i, u in enumerate(units) if i not in heldout_ids]
    train = [d for u in train_units if u for d in _documents(u)]
    heldout = [d for i, u in enumerate(units) if i in heldout_ids for d in _documents(u)]
    digest = hashlib.sha256()
    digest.update(f"tinylm-corpus-{CORPUS_VERSION}\n".encode())
    for part, docs in (("train", train), ("heldout", heldout)):
        digest.update(f"{part}:{len(docs)}\n".encode())
        for doc in docs:
            digest.update(doc.encode("utf-8") + b"\0")
    return Corpus(train=train, heldout=heldout, digest=digest.hexdigest()[:16])


def _words(paragraphs: list[str]) -> int:
    return sum(len(p.split()) for p in paragraphs)


def _documents(paragraphs: list[str]) -> list[str]:
    """Whole paragraphs grouped into documents of about ``DOC_WORDS`` words."""
    docs: list[str] = []
    current: list[str] = []
    count = 0
    for para in paragraphs:
        current.append(para)
        count += len(para.split())
        if count >= DOC_WORDS:
            docs.append("\n\n".join(current))
            current, count = [], 0
    if current:
        docs.append("\n\n".join(current))
    return docs


def _cached_units(path: Path, cache_dir: Path | None = None) -> list[list[str]]:
    """The cleaned units of one source file, memoised on disk by the file's content hash."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
    cache = Path(cache_dir or cache_root()) / "tinylm" / "corpus" / f"{sha}-v{CORPUS_VERSION}.json"
    if cache.is_file():
        try:
            return json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    units = list(_read_units(path))
    if not cache_writable():  # harness validate: remembered nowhere
        return units
    try:
        atomic_write_text(cache, json.dumps(units))
    except OSError:  # a read-only cache only costs speed
        pass
    return units


def _read_units(path: Path) -> Iterator[list[str]]:
    name = path.name.lower()
    if name.endswith((".bz2", ".xml")):
        yield from _wiki_units(path)
    elif name.endswith(".cor"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            para = _clean_prose(line)
            if para:
                yield [para]
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
        paras = [_clean_prose(" ".join(block.split("\n"))) for block in re.split(r"\n\s*\n", text)]
        paras = [p for p in paras if p]
        for document in _documents(paras):  # a long text file gives several units
            yield document.split("\n\n")


def _wiki_units(path: Path) -> Iterator[list[str]]:
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    opener = bz2.open if path.name.lower().endswith(".bz2") else open
    with opener(path, "rb") as handle:
        for _title, text, _pageid in extract_pages(handle, filter_namespaces=("0",)):
            if text.lstrip().lower().startswith("#redirect"):
                continue
            paras = _wiki_paragraphs(filter_wiki(text))
            if paras:
                yield paras


_HEADING = re.compile(r"^\s*(=+)\s*(.*?)\s*\1\s*$")


def _wiki_paragraphs(text: str) -> list[str]:
    """Prose paragraphs of a markup-stripped article, up to its reference sections."""
    paras: list[str] = []
    for line in text.split("\n"):
        heading = _HEADING.match(line)
        if heading:
            if heading.group(2).strip().lower() in _DROP_SECTIONS:
                break
            continue
        if line[:1] in "*#:;|{}!" or line.startswith(("thumb", "File:", "Image:")):
            continue
        para = _clean_prose(line)
        if para:
            paras.append(para)
    return paras


_EMPTY_PARENS = re.compile(r"\(\s*[,;:.\s]*\)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")


def _clean_prose(line: str) -> str:
    """One paragraph of plain prose, or '' when the line is not prose."""
    text = line.replace("'''", "").replace("''", "").replace("&nbsp;", " ")
    text = re.sub(r"<[^>]*>", "", text)
    for _ in range(2):
        text = _EMPTY_PARENS.sub("", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = re.sub(r",\s*,", ",", text)
    words = text.split()
    if len(words) < MIN_PARAGRAPH_WORDS:
        return ""
    letters = sum(ch.isascii() and ch.isalpha() for ch in text)
    if letters < 0.6 * len(text) or text[-1] not in ".!?\"')":
        return ""
    if any(mark in text for mark in ("{{", "}}", "[[", "]]", "|")):
        return ""
    return text
