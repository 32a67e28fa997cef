"""Damage a stopped node's data directory, the way a crash or a bad disk would. Run on the node
by the `disk` fault while the node's process is down:

    python -m nemeses.disk_damage lose-unsynced|truncate|corrupt DATA_DIR --seed N [--file-glob P]...

Prints what it did as one JSON object.

- `lose-unsynced`: what a power cut does. The page cache still holds what the process wrote but
  never fsynced (the process is dead; the kernel has not written it back yet). For every file,
  the pages the kernel reports dirty (`cachestat`, Linux 6.5+) are where the disk's copy may
  differ. FIEMAP tells, page by page, whether the disk holds a block for it: the file is cut at
  the first dirty page the disk has no block for (unsynced appends, which the file system has
  not even allocated), or, where the raw block device can be read, at the end of the disk's own
  copy of the first dirty page. A dirty page whose disk block exists but cannot be read here
  (a container may not open the device) is kept whole, unsynced bytes and all: the fault then
  loses a little less than a real crash would, but never bytes that were synced, so a system
  that fsyncs before it acknowledges is never blamed for a loss it could not prevent.
- `truncate`: cut 1..512 bytes off the end of each durable file, tearing the last record(s).
- `corrupt`: flip a few bits in the last 512 bytes of each durable file.

The durable files are those matching a `--file-glob` pattern (relative to DATA_DIR, as
`Path.glob` reads it; repeat it for several; default `**/*`, every file): the disk nemesis
passes what the system declares (`DeclaresDurableFiles`), e.g. raftkv's `raft-log` and
`raft-state`, which are what it reads back. A system's checksums let it detect a torn or corrupt
tail on replay and cut it off. Unlike `lose-unsynced`, these two destroy data the system had
synced and acknowledged, so even a correct system may lose writes under them (Raft assumes its
log and vote survive a restart).
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import mmap
import os
import random
import struct
from pathlib import Path
from typing import Sequence

PAGE = os.sysconf("SC_PAGE_SIZE")
SYS_CACHESTAT = 451  # x86_64 and arm64 alike
FS_IOC_FIEMAP = 0xC020660B
FIEMAP_EXTENT_UNKNOWN, FIEMAP_EXTENT_DELALLOC, FIEMAP_EXTENT_UNWRITTEN = 0x2, 0x4, 0x800
TAIL = 512


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")]


_libc = ctypes.CDLL(None, use_errno=True)


def dirty_pages(fd: int, first: int, count: int) -> int:
    """How many of `count` pages from page `first` hold writes the disk does not have yet."""
    rng, stat = _Range(first * PAGE, count * PAGE), _Stat()
    if _libc.syscall(SYS_CACHESTAT, fd, ctypes.byref(rng), ctypes.byref(stat), 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cachestat: {os.strerror(err)} (lose-unsynced needs Linux 6.5 or later)")
    return stat.nr_dirty + stat.nr_writeback


def first_dirty_page(fd: int, size: int) -> int | None:
    pages = (size + PAGE - 1) // PAGE
    if pages == 0 or dirty_pages(fd, 0, pages) == 0:
        return None
    low, high = 0, pages - 1  # the answer is in [low, high]
    while low < high:
        mid = (low + high) // 2
        if dirty_pages(fd, low, mid - low + 1):
            high = mid
        else:
            low = mid + 1
    return low


def disk_state_of_page(fd: int, path: Path, page: int) -> bytes | None:
    """The page as the disk holds it: b"" if the disk has no block for it yet (a hole, or blocks
    the file system has not allocated or written), its bytes if the block device can be read,
    None if the disk has a block for it that cannot be read here."""
    answer = bytearray(struct.pack("=QQIIII", page * PAGE, PAGE, 0, 0, 1, 0) + bytes(56))
    try:
        fcntl.ioctl(fd, FS_IOC_FIEMAP, answer)  # no FIEMAP_FLAG_SYNC: that would sync the file
    except OSError:
        return None
    if struct.unpack_from("=I", answer, 20)[0] == 0:
        return b""
    logical, physical, _length = struct.unpack_from("=QQQ", answer, 32)
    flags = struct.unpack_from("=I", answer, 32 + 40)[0]
    if flags & (FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNWRITTEN):
        return b""
    device = None if flags & FIEMAP_EXTENT_UNKNOWN else _block_device(path)
    if device is None:
        return None
    try:
        dev = os.open(device, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return None  # e.g. a container may not open the raw device
    buffer = mmap.mmap(-1, PAGE)  # page-aligned, as O_DIRECT wants
    try:
        os.preadv(dev, [buffer], physical + (page * PAGE - logical))
        return bytes(buffer)
    finally:
        os.close(dev)


def _block_device(path: Path) -> str | None:
    st = os.stat(path)
    link = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    if not link.exists():
        return None
    device = Path("/dev") / link.resolve().name
    return str(device) if device.exists() else None


def lose_unsynced(path: Path) -> dict | None:
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        page = first_dirty_page(fd, size)
        if page is None:
            return None
        pages = (size + PAGE - 1) // PAGE
        kept = size
        how = "nothing lost: every dirty page has an unreadable disk copy"
        for candidate in range(page, pages):
            if candidate > page and not dirty_pages(fd, candidate, 1):
                continue
            on_disk = disk_state_of_page(fd, path, candidate)
            if on_disk is None:
                continue  # the disk has some of this page; keep it, unsynced bytes and all
            # The disk's page ends where its data ends; the rest of it is zero fill.
            content = on_disk.rstrip(b"\0")[: max(0, size - candidate * PAGE)]
            os.ftruncate(fd, candidate * PAGE)
            os.pwrite(fd, content, candidate * PAGE)
            kept = candidate * PAGE + len(content)
            how = "cut where the disk's copy ends"
            break
        os.fsync(fd)
        return {"size": size, "kept": kept, "how": how}
    finally:
        os.close(fd)


def truncate_tail(path: Path, rng: random.Random) -> dict | None:
    size = path.stat().st_size
    if size == 0:
        return None
    cut = rng.randint(1, min(size, TAIL))
    os.truncate(path, size - cut)
    return {"size": size, "kept": size - cut}


def corrupt_tail(path: Path, rng: random.Random) -> dict | None:
    size = path.stat().st_size
    if size == 0:
        return None
    offsets = sorted({rng.randrange(max(0, size - TAIL), size) for _ in range(rng.randint(1, 4))})
    with open(path, "r+b") as f:
        for offset in offsets:
            f.seek(offset)
            old = f.read(1)[0]
            f.seek(offset)
            f.write(bytes([old ^ (1 << rng.randrange(8))]))
        f.flush()
        os.fsync(f.fileno())
    return {"size": size, "flipped": offsets}


def files_matching(data_dir: Path, patterns: Sequence[str]) -> list[Path]:
    """Regular files under `data_dir` that match any of the glob patterns, in name order."""
    found = {p for pattern in patterns for p in data_dir.glob(pattern)}
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def damage(kind: str, data_dir: Path, seed: int, patterns: Sequence[str] = ("**/*",)) -> dict[str, dict]:
    rng = random.Random(seed)
    done = {}
    for path in files_matching(data_dir, ("**/*",) if kind == "lose-unsynced" else patterns):
        if kind == "lose-unsynced":
            result = lose_unsynced(path)
        elif kind == "truncate":
            result = truncate_tail(path, rng)
        elif kind == "corrupt":
            result = corrupt_tail(path, rng)
        else:
            raise SystemExit(f"unknown damage {kind!r}: choose lose-unsynced, truncate or corrupt")
        if result is not None:
            done[str(path.relative_to(data_dir))] = result
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["lose-unsynced", "truncate", "corrupt"])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--file-glob", action="append", dest="patterns", metavar="PATTERN",
                        help="files truncate and corrupt may touch, relative to DATA_DIR (repeatable; default **/*)")
    args = parser.parse_args()
    print(json.dumps(damage(args.kind, args.data_dir, args.seed, args.patterns or ("**/*",))))


if __name__ == "__main__":
    main()
