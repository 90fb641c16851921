"""Data sources at scale: start-up on an image folder of 100,000 files.

    python benchmarks/data.py [--files 100000]

Writes benchmarks/data_results.md, which benchmarks/run.py includes in RESULTS.md. The folder
(1,000 classes of small PNG files) is written once to a temporary folder. Side by side, in one
run, with the folder's metadata in the page cache (just written): ``open_data`` on it as archspec does now (the files listed, none
opened) and the same listing with every file opened and its first bytes checked, as archspec
did before and as a start-up check of every image would.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archspec.train.data import open_data  # noqa: E402

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cf"
                    "c0000003010100c9fe92ef0000000049454e44ae426082")  # a 1x1 RGB PNG
MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")


def write_folder(root: Path, files: int, classes: int = 1000) -> None:
    for c in range(classes):
        folder = root / f"n{c:08d}"
        folder.mkdir(parents=True)
        for i in range(files // classes):
            (folder / f"{i}.png").write_bytes(PNG)


def opening_every_file(root: Path) -> int:
    count = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            with path.open("rb") as f:
                assert any(f.read(4).startswith(m) for m in MAGIC)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        t = time.perf_counter()
        write_folder(root, args.files)
        written = time.perf_counter() - t
        t = time.perf_counter()
        data = open_data(f"folder:{root}", validation_split=0.01, seed=0, synthetic_classes=0)
        listed = time.perf_counter() - t
        t = time.perf_counter()
        assert opening_every_file(root) == args.files == len(data.train) + len(data.val)
        opened = time.perf_counter() - t
    lines = [
        "## Data sources: start-up on a large image folder (CPU)",
        "",
        f"`python benchmarks/data.py --files {args.files}` on {platform.machine()} CPU, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {datetime.date.today()}: a folder of {args.files:,} PNG files in "
        f"1,000 class subfolders (written in {written:.0f} s), local disk.",
        "",
        "| start-up | seconds | files per second |",
        "|---|---:|---:|",
        f"| `open_data('folder:...')`: listed, none opened (archspec) | {listed:.2f} | {args.files / listed:,.0f} |",
        f"| the same listing, every file opened and its header checked | {opened:.2f} | {args.files / opened:,.0f} |",
        "",
        f"Listing alone is {opened / listed:.1f}x faster here, with the files' metadata in the page cache (the "
        f"folder was just written); on a network file system or a cold disk, each open costs a round trip or "
        f"a seek, so the gap widens.",
    ]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "data_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
