"""The tinylm corpus: clean prose, deterministic split, held-out text never in training."""

from __future__ import annotations

import bz2

import pytest

from harness.util.errors import DataError
from harness_plugins.models.tinylm.corpus import load_corpus

WIKI = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
<page><title>Redirected</title><ns>0</ns><id>1</id><revision><text>#REDIRECT [[Other]]</text></revision></page>
<page><title>Cats</title><ns>0</ns><id>2</id><revision><text>'''Cats''' are small {{lang|la|felis}} animals that many people keep at home as [[pet|pets]] and friends.
==History==
Cats were kept in ancient Egypt, where they were valued for catching mice and rats in grain stores.
* a list item that is not prose and should never appear in the corpus at all, ever
==References==
This paragraph is in the references section and must be dropped from the cleaned text entirely.
</text></revision></page>
</mediawiki>
"""


def _sources(tmp_path):
    wiki = tmp_path / "sample.xml.bz2"
    wiki.write_bytes(bz2.compress(WIKI.encode()))
    news = tmp_path / "news.cor"
    news.write_text("\n".join(f"Story number {i} tells how the town council met on a rainy day and agreed to repair the old bridge." for i in range(30)))
    plain = tmp_path / "notes.txt"
    plain.write_text("A plain text file has paragraphs that are separated by blank lines,\nand lines inside one paragraph are joined.\n\nshort\n")
    return [wiki, news, plain]


def test_cleaning_and_split(tmp_path):
    corpus = load_corpus(_sources(tmp_path), seed=0)
    everything = corpus.train + corpus.heldout
    text = "\n".join(everything)
    assert "Cats are small animals that many people keep at home as pets and friends." in text
    assert "ancient Egypt" in text
    assert "references section" not in text and "list item" not in text and "REDIRECT" not in text
    assert "'''" not in text and "[[" not in text and "{{" not in text
    assert "paragraphs that are separated by blank lines, and lines inside" in text
    assert "short" not in text.split()
    assert corpus.heldout and corpus.train
    assert not set(corpus.heldout) & set(corpus.train)


def test_deterministic_per_seed(tmp_path):
    sources = _sources(tmp_path)
    a, b, c = load_corpus(sources, seed=0), load_corpus(sources, seed=0), load_corpus(sources, seed=3)
    assert a == b
    assert a.digest != c.digest


def test_missing_or_empty_source(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_corpus([tmp_path / "nope.txt"])
    empty = tmp_path / "empty.txt"
    empty.write_text("too short\n")
    with pytest.raises(DataError, match="empty.txt"):
        load_corpus([empty])


def test_default_corpus_is_gensim_sample():
    corpus = load_corpus()
    train_words, heldout_words = corpus.num_words()
    assert train_words > 200_000 and heldout_words > 20_000
    assert not set(corpus.heldout) & set(corpus.train)
    assert all("[[" not in d and "'''" not in d for d in corpus.heldout)
