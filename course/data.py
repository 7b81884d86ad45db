"""Paths to the files shipped in ``datasets/``, verified against ``datasets/MANIFEST``.

MANIFEST is a tab-separated table with a header: ``name sha256 size source licence``. Lines
starting with ``#`` are comments. Every shipped file has a row; a file whose bytes do not match
its checksum is refused with a message that says how to rebuild it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"
MANIFEST_PATH = DATASETS_DIR / "MANIFEST"
COLUMNS = ("name", "sha256", "size", "source", "licence")


@dataclass(frozen=True)
class Entry:
    name: str
    sha256: str
    size: int
    source: str
    licence: str


def read_manifest(path: Path = MANIFEST_PATH) -> dict[str, Entry]:
    """Parse a MANIFEST file into ``{name: Entry}``."""
    entries: dict[str, Entry] = {}
    if not path.exists():
        return entries
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    rows = [ln for ln in lines if not ln.startswith("#")]
    if not rows:
        return entries
    header = tuple(rows[0].split("\t"))
    if header != COLUMNS:
        raise ValueError(f"{path}: header must be {COLUMNS}, found {header}")
    for number, line in enumerate(rows[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise ValueError(f"{path}: row {number} has {len(fields)} fields, expected {len(COLUMNS)}")
        name, sha, size, source, licence = fields
        entries[name] = Entry(name, sha.lower(), int(size), source, licence)
    return entries


def manifest() -> dict[str, Entry]:
    """The shipped MANIFEST as ``{name: Entry}``."""
    return read_manifest(MANIFEST_PATH)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def _verified(path: Path, sha: str, size: int, stamp: tuple[int, int]) -> bool:
    # Cached per process and per (size, mtime): a file is hashed again only when it changes.
    return stamp[0] == size and sha256_of(path) == sha


def data_path(name: str, *, verify: bool = True) -> Path:
    """Absolute path of a shipped data file, after checking its size and sha256.

    >>> data_path("shakespeare/tragedies.txt")  # doctest: +SKIP
    """
    entries = manifest()
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise KeyError(f"{name!r} is not in {MANIFEST_PATH} (known files: {known})")
    entry = entries[name]
    path = DATASETS_DIR / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing; rebuild it with the script named in {MANIFEST_PATH} ({entry.source})"
        )
    stat = path.stat()
    if verify and not _verified(path, entry.sha256, entry.size, (stat.st_size, stat.st_mtime_ns)):
        raise ValueError(
            f"{path} does not match its sha256 in {MANIFEST_PATH}: the file is corrupt or was "
            f"edited; restore it with git or rebuild it ({entry.source})"
        )
    return path
