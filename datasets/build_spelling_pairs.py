"""Build the modern -> First Folio spelling pairs (``datasets/spelling/pairs_{train,test}.tsv``).

The shipped held-out plays exist in two editions (``datasets/shakespeare/modern_*.txt``, the
Globe text; ``folio_*.txt``, the 1623 First Folio). They differ in spelling, but also in line
breaks, punctuation, capitals, speaker names and stage directions, so they are aligned word by
word and cut into pairs of lines:

1. Clean. Modern: drop lines without a lower-case letter (speaker names "AEGEON.", "ACT I.") and
   text in square brackets (stage directions). Folio: drop the speaker prefix at the start of a
   speech ("Duk. ", "Botes: "); stage directions stay and are filtered out in step 4.
2. Words. Lower-case, then the words ``[a-z']+``: only spelling is left, no punctuation and no
   capitals (editorial choices of each edition that no system could predict).
3. Align. ``difflib.SequenceMatcher`` (``autojunk=False``) on a *skeleton* of every word, in
   which the usual spelling variants coincide (u/v and i/j/y merged, apostrophes and a final
   "e" dropped, doubled letters collapsed: "loue" and "love" are both "lou"). Words in equal
   blocks, and in replaced blocks of equal length on both sides, are aligned one to one.
4. Cut. Each Folio verse line is one pair if its first and last words are aligned; its modern
   side is the modern words from the partner of its first word to the partner of its last. A
   pair is kept when both sides have at least 3 words, their lengths differ by at most 2 words
   and the two strings are similar (``difflib`` ratio >= 0.75 on the characters): this removes
   stage directions, cuts and misalignments.

Each output line is ``modern<TAB>folio``: lower-case words separated by single spaces, in text
order, after a header line. Deterministic: the same input files give the same bytes.

    python datasets/build_spelling_pairs.py                    # write the files, print MANIFEST rows
    python datasets/build_spelling_pairs.py --update-manifest  # and write the rows into MANIFEST
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "spelling"
MANIFEST = HERE / "MANIFEST"
SPLITS = ("train", "test")
PLAYS = {"train": "The Tempest, A Midsummer Night's Dream", "test": "The Comedy of Errors"}
HEADER = "modern\tfolio"
MIN_WORDS, MAX_LEN_DIFF, MIN_RATIO = 3, 2, 0.75
LICENCE = (
    "public domain (Shakespeare; Project Gutenberg public-domain texts); the packaged collection "
    "credits the Open Knowledge Foundation, CC-BY 2.5 (https://creativecommons.org/licenses/by/2.5/)"
)

WORD = re.compile(r"[a-z']+")
# A speech in the Folio starts with the speaker's (abbreviated) name: "Duk. ", "Botes: ",
# "E.Ant. ", "Ant.S. ", "Mer. " (at most 14 characters, a capital first, no space inside).
SPEAKER = re.compile(r"^[A-Z][A-Za-z.]{0,13}[.:]\s+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def skeleton(word: str) -> str:
    """A key under which common spelling variants coincide (used for the alignment only)."""
    w = word.replace("'", "").replace("v", "u").replace("j", "i").replace("y", "i")
    if len(w) > 2 and w.endswith("e"):
        w = w[:-1]
    return re.sub(r"(.)\1+", r"\1", w)


def modern_lines(text: str) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        line = re.sub(r"\[[^\]]*\]?", " ", line)
        if not re.search(r"[a-z]", line):
            continue  # speaker names, act and scene headings
        out.append(words(line))
    return out


def folio_lines(text: str) -> list[list[str]]:
    out, previous_blank = [], True
    for line in text.splitlines():
        if not line.strip():
            previous_blank = True
            continue
        if previous_blank:
            line = SPEAKER.sub("", line)
        previous_blank = False
        out.append(words(line))
    return out


def align(modern_words: list[str], folio_words: list[str]) -> dict[int, int]:
    """{folio word index: modern word index} for the words aligned one to one."""
    matcher = difflib.SequenceMatcher(
        None, [skeleton(w) for w in modern_words], [skeleton(w) for w in folio_words], autojunk=False
    )
    partner: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for k in range(j2 - j1):
                partner[j1 + k] = i1 + k
    return partner


def pairs(modern_text: str, folio_text: str) -> list[tuple[str, str]]:
    """The aligned (modern, folio) line pairs of one play (or plays in the same order)."""
    modern_words = [w for line in modern_lines(modern_text) for w in line]
    flines = folio_lines(folio_text)
    folio_words = [w for line in flines for w in line]
    partner = align(modern_words, folio_words)
    out, start = [], 0
    for line in flines:
        a, b = start, start + len(line)
        start = b
        if len(line) < MIN_WORDS or a not in partner or b - 1 not in partner:
            continue
        m = modern_words[partner[a] : partner[b - 1] + 1]
        if len(m) < MIN_WORDS or abs(len(m) - len(line)) > MAX_LEN_DIFF:
            continue
        mod, fol = " ".join(m), " ".join(line)
        if difflib.SequenceMatcher(None, mod, fol, autojunk=False).ratio() >= MIN_RATIO:
            out.append((mod, fol))
    return out


def build(out_dir: Path = OUT_DIR) -> dict[str, bytes]:
    sys.path.insert(0, str(HERE.parent))
    from course import corpus  # the shipped, sha-verified plays

    contents = {}
    for split in SPLITS:
        rows = pairs(corpus.modern(split), corpus.folio(split))
        text = "\n".join([HEADER] + [f"{m}\t{f}" for m, f in rows]) + "\n"
        contents[f"spelling/pairs_{split}.tsv"] = text.encode("ascii")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (HERE / name).write_bytes(data)
    return contents


def source_of(name: str) -> str:
    split = "train" if name.endswith("train.tsv") else "test"
    return (
        f"aligned from shakespeare/modern_{split}.txt and shakespeare/folio_{split}.txt "
        f"({PLAYS[split]}; difflib word alignment, one pair per Folio line); "
        f"rebuild: python datasets/build_spelling_pairs.py"
    )


def manifest_rows(contents: dict[str, bytes]) -> list[str]:
    return [
        "\t".join([name, hashlib.sha256(data).hexdigest(), str(len(data)), source_of(name), LICENCE])
        for name, data in contents.items()
    ]


def update_manifest(rows: list[str], path: Path = MANIFEST) -> None:
    """Replace the rows of our files in MANIFEST (or append them), keeping every other line."""
    ours = {row.split("\t", 1)[0]: row for row in rows}
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("#") or line.split("\t", 1)[0] not in ours
    ]
    path.write_text("\n".join(kept + list(ours.values())) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--update-manifest", action="store_true", help="write the rows into MANIFEST")
    args = parser.parse_args(argv)
    contents = build()
    rows = manifest_rows(contents)
    for name, data in contents.items():
        print(f"{name}: {len(data.splitlines()) - 1} pairs", file=sys.stderr)
    print("\n".join(rows))
    if args.update_manifest:
        update_manifest(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
