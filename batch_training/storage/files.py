"""File safety in one place: every artifact appears whole or not at all, and is named by its digest.

A file is written to a temporary name in its destination folder, flushed and fsynced, renamed over
the final name, and the folder fsynced (so the rename itself survives a crash): a reader, or a
crash, sees the old file or the new one, never half of one. Temporary names start with a dot and
end in ``.tmp``; a writer sweeps the ones a killed writer of the same path left (``kill -9`` skips
every ``finally``). Artifacts made of several files go through ``atomic_directory``; many
independent files (the days of a chunk) through ``write_files_atomic``, which encodes and fsyncs them
on a few threads and renames them only when every one is on disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; not every platform or filesystem allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _sweep(folder: Path, names: set[str]) -> None:
    """Create ``folder`` and remove the temporaries a killed writer of any of ``names`` left there
    (``.<name>.<pid>.<random>.tmp``), in one listing of the folder however many names."""
    folder.mkdir(parents=True, exist_ok=True)
    with os.scandir(folder) as entries:
        stale = [e.path for e in entries if e.name.startswith(".") and e.name.endswith(".tmp")
                 and e.name[1:-4].rsplit(".", 2)[0] in names]
    for leftover in stale:
        Path(leftover).unlink(missing_ok=True)


def _sweep_and_name(path: Path) -> Path:
    """Create the folder, remove temporaries a killed writer of ``path`` left, name a new one."""
    _sweep(path.parent, {path.name})
    return _temporary(path)


def _create(tmp: Path) -> BinaryIO:
    # mode 0666 less the umask (as ``open`` would), not mkstemp's 0600
    return os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary handle whose bytes replace ``path`` when the block ends without an error."""
    path = Path(path)
    tmp = _sweep_and_name(path)
    try:
        with _create(tmp) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


#: threads that encode and fsync the files of one ``write_files_atomic`` call (pyarrow's encoder and
#: fsync release the GIL; on 2 cores 4 threads wrote a year of days 2.0-2.5x as fast as one at a time)
WRITE_THREADS = 4


def write_files_atomic(writes: Sequence[tuple[Path, Callable[[BinaryIO], None]]]) -> None:
    """Write each ``(path, fill)`` as ``atomic_file`` would, but together: every file is filled and
    fsynced on a few threads, and only when all are on disk are they renamed over their paths (and
    each folder fsynced once). When any fill fails, no path is replaced and no temporary is left;
    the first error is raised. A crash part way through the renames leaves each path old or new."""
    if not writes:
        return
    paths = [Path(path) for path, _ in writes]
    if len(set(paths)) != len(paths):
        raise ValueError("write_files_atomic: the same path twice in one batch")
    folders: dict[Path, set[str]] = {}
    for path in paths:
        folders.setdefault(path.parent, set()).add(path.name)
    for folder, names in folders.items():
        _sweep(folder, names)
    tmps = [_temporary(path) for path in paths]

    def fill(tmp: Path, write: Callable[[BinaryIO], None]) -> None:
        with _create(tmp) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())

    try:
        with ThreadPoolExecutor(min(WRITE_THREADS, len(writes)), thread_name_prefix="atomic-write") as pool:
            done = [pool.submit(fill, tmp, write) for tmp, (_, write) in zip(tmps, writes)]
        for future in done:
            future.result()  # the first failure, after every thread has stopped
        for tmp, path in zip(tmps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    for folder in folders:
        fsync_dir(folder)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces ``path`` (the previous version is
    moved aside first and removed after). A crash leaves at most a ``.tmp-*`` or ``.old-*`` folder,
    never a half-written artifact under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                with open(child, "rb") as fh:
                    os.fsync(fh.fileno())
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
