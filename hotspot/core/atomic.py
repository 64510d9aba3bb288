"""Atomic outputs: a reader sees the old files or the complete new ones, never half of one, nor half of a run.

Every output is written to a temporary file in the destination's folder, named
``.<stem>.partial-<pid>-<token><suffix>``, and moved into place with ``os.replace`` only when
complete; a crash or Ctrl-C removes the temporary file and leaves the last good output untouched.

Inside :func:`output_run` (the CLI wraps every command in one) the moves wait until the whole run
has succeeded, and then happen together with Ctrl-C held back, so a run's files are all new or all
old. A journal beside the outputs lists the moves while they happen; if the process is killed in
between, the next run reads it and says which files are new. Temporary files left by a killed
process (its pid no longer running) are removed by the next run that writes to the same folder,
and said.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import glob
import json
import os
import re
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hotspot.core.errors import HotspotInputError

_PARTIAL = re.compile(r"^\.(?P<stem>.+)\.partial-(?:(?P<pid>\d+)-)?[0-9a-f]{8}")
"""Our temporary names: ``.<stem>.partial-<pid>-<token>...`` (older releases wrote no pid)."""
_JOURNAL = re.compile(r"^\.hotspot-run-(?P<pid>\d+)-[0-9a-f]{8}\.journal$")
UNOWNED_STALE_S = 600.0
"""A temporary file without a pid (older releases) is stale once untouched this many seconds."""
MIN_FREE_BYTES = 1 << 20
"""An output folder with less free space than this (1 MiB) is refused before the analysis runs."""

_current: contextvars.ContextVar[OutputRun | None] = contextvars.ContextVar("hotspot_output_run", default=None)


@dataclass
class OutputRun:
    """The outputs of one run, staged under temporary names until :meth:`commit`.

    Attributes
    ----------
    staged : dict of Path to Path
        Final path to the complete temporary file waiting to replace it.
    notes : list of str
        What the user should be told: stale files removed, a previous run's interrupted commit.
    """

    staged: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def stage(self, temporary: Path, final: Path) -> None:
        earlier = self.staged.pop(final, None)
        if earlier is not None:
            _remove(earlier)
        self.staged[final] = temporary

    def discard(self) -> None:
        for temporary in self.staged.values():
            _remove(temporary)
        self.staged.clear()

    def commit(self) -> list[Path]:
        """Move every staged file into place, Ctrl-C held back; returns the final paths."""
        if not self.staged:
            return []
        items = list(self.staged.items())
        folder = items[0][0].parent if str(items[0][0].parent) else Path(".")
        journal = folder / f".hotspot-run-{os.getpid()}-{uuid.uuid4().hex[:8]}.journal"
        with _signals_held():
            try:
                journal.write_text(json.dumps([[str(f), str(t)] for f, t in items]), encoding="utf-8")
            except OSError:
                journal = None
            done = []
            try:
                for final, temporary in items:
                    os.replace(temporary, final)
                    done.append(final)
            except OSError as exc:
                left = [str(f) for f, _ in items if f not in done]
                for _, temporary in items[len(done) :]:
                    _remove(temporary)
                raise HotspotInputError(
                    f"could not move {left[0]} into place ({exc.strerror or exc}); "
                    f"new: {', '.join(map(str, done)) or 'none'}; unchanged: {', '.join(left)}"
                ) from None
            finally:
                self.staged.clear()
                if journal is not None:
                    _remove(journal)
        return done


def current_run() -> OutputRun | None:
    """The :class:`OutputRun` in effect, or None (each file then replaces its old version on its own)."""
    return _current.get()


@contextlib.contextmanager
def output_run() -> Iterator[OutputRun]:
    """Group every :func:`atomic_path` write inside the block into one all-or-nothing replacement.

    On normal exit the staged files replace the old ones together; on any error (or Ctrl-C)
    they are deleted and the old files stay. Runs nest: an inner block joins the outer run.
    """
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    run = OutputRun()
    token = _current.set(run)
    try:
        yield run
    except SystemExit as exc:
        if exc.code in (0, None):
            run.commit()
        else:
            run.discard()
        raise
    except BaseException:
        run.discard()
        raise
    else:
        run.commit()
    finally:
        _current.reset(token)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back (delivered afterwards) while a run's files are moved into place."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove(path: Path) -> None:
    for leftover in (path, *path.parent.glob(glob.escape(path.name) + "*")):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _belongs(stem: str, wanted: set) -> bool:
    """A file stem belongs to an output stem: the same, or its sidecars (``ranked_monthly``, ``rtm_risk``)."""
    return any(stem == w or stem.startswith(f"{w}_") or stem.startswith(f"{w}.") for w in wanted)


def clean_stale(folder: str | Path, stems: Iterable[str] | None = None) -> list[str]:
    """Remove our temporary files left in ``folder`` by processes no longer running; returns notes.

    Only names we write are touched (``.<stem>.partial-<pid>-<token>*`` and run journals), and only
    when their process is gone (or, for names without a pid, untouched for ``UNOWNED_STALE_S``).
    ``stems`` limits the clean-up to those output stems and their sidecars (``<stem>_monthly.csv``,
    ``<stem>.provenance.json``). A journal left by a killed commit is read
    first, to say which of that run's files had been replaced.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    wanted = None if stems is None else set(stems)
    notes: list[str] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = _JOURNAL.match(entry.name)
        if match and not _pid_alive(int(match.group("pid"))):
            with contextlib.suppress(OSError, ValueError):
                moves = json.loads(entry.read_text(encoding="utf-8"))
                new = [f for f, t in moves if not Path(t).exists()]
                old = [f for f, t in moves if Path(t).exists()]
                for _, temporary in moves:
                    _remove(Path(temporary))
                notes.append(
                    f"a previous run was stopped while replacing its outputs: new: {', '.join(new) or 'none'}; "
                    f"still from the run before: {', '.join(old) or 'none'}; rerun to make them one run again"
                )
            _remove(entry)
    removed, size = [], 0
    now = time.time()
    for entry in entries:
        match = _PARTIAL.match(entry.name)
        if not match or (wanted is not None and not _belongs(match.group("stem"), wanted)):
            continue
        with contextlib.suppress(OSError):
            if not entry.exists():
                continue
            pid = match.group("pid")
            stale = (not _pid_alive(int(pid))) if pid else (now - entry.stat().st_mtime > UNOWNED_STALE_S)
            if stale:
                size += entry.stat().st_size if entry.is_file() else 0
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
                removed.append(entry.name)
    if removed:
        notes.append(
            f"removed {len(removed)} unfinished file(s) ({size / 1e6:,.1f} MB) left in {folder} by an earlier "
            f"run that was killed: {', '.join(sorted(removed)[:3])}{' ...' if len(removed) > 3 else ''}"
        )
    return notes


_WRITE_ERRORS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENOTDIR: "a file stands where a folder should be",
    errno.EISDIR: "it is a folder",
    errno.ENOENT: "files cannot be created there",
}


def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_writable(path: str | Path, option: str = "--out") -> list[str]:
    """Check, before any analysis, that ``path`` (a file to write) can be written; returns notes.

    Refuses with one line naming ``option``: a folder where the file should be, a file where a
    folder should be, a read-only file system or folder (``/proc`` included), too little free
    space (``MIN_FREE_BYTES``). A probe file is created and removed; no folder is created. Stale
    temporary files of this output are cleaned (see :func:`clean_stale`) and said in the notes.
    """
    final = Path(path)
    if final.exists() and final.is_dir():
        raise HotspotInputError(f"{option} {final} is a folder; give a file path")
    folder = final.parent if str(final.parent) else Path(".")
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise HotspotInputError(f"{option} {final}: {existing} is a file, not a folder; choose another {option}")
    probe = existing / f".{final.stem}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}.probe"
    try:
        with open(probe, "xb") as handle:
            handle.write(b"x")
    except OSError as exc:
        reason = _WRITE_ERRORS.get(exc.errno, exc.strerror or str(exc))
        raise HotspotInputError(
            f"{option} {final}: cannot write in {existing} ({reason}); choose another {option}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(existing).free
        if free < MIN_FREE_BYTES:
            raise HotspotInputError(
                f"{option} {final}: only {free / 1e6:.1f} MB free in {existing}; free some space "
                f"or choose another {option}"
            )
    if folder.is_dir() and not os.access(folder, os.W_OK):
        raise HotspotInputError(
            f"{option} {final}: cannot write in {folder} (permission denied); choose another {option}"
        )
    return clean_stale(folder, [final.stem]) if folder.is_dir() else []


def _write_failure(final: Path, exc: BaseException) -> HotspotInputError | None:
    """One line for a write that failed for a reason the user can fix (disk full, read-only...), else None."""
    code = getattr(exc, "errno", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and code in _WRITE_ERRORS:
        reason = _WRITE_ERRORS[code]
    else:
        module = type(exc).__module__ or ""
        lowered = text.lower()
        io_library = module.split(".")[0] in ("pyogrio", "rasterio", "sqlite3", "fiona") or isinstance(exc, OSError)
        if not io_library:
            return None
        reason = text
        for needle, said in (
            ("no space", "the disk is full"),
            ("disk is full", "the disk is full"),
            ("read-only", "the file system is read-only"),
            ("readonly", "the file system is read-only"),
            ("permission denied", "permission denied"),
            ("write error", f"the write failed; is the disk full? ({text})"),
        ):
            if needle in lowered:
                reason = said
                break
        else:
            with contextlib.suppress(OSError):
                if shutil.disk_usage(final.parent if str(final.parent) else ".").free < MIN_FREE_BYTES:
                    reason = f"the disk is full ({text})"
    return HotspotInputError(
        f"cannot write {final}: {reason}; nothing was replaced, free space or choose another --out"
    )


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, on any error delete it.

    The temporary name keeps the suffix, so drivers that pick a format by extension work. Inside
    :func:`output_run` the move waits for the end of the run. A write that fails because the disk
    is full, the file system is read-only or permission is denied becomes one HotspotInputError line.
    """
    final = Path(path)
    folder = final.parent if str(final.parent) else Path(".")
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = _WRITE_ERRORS.get(exc.errno, exc.strerror or str(exc))
            raise HotspotInputError(
                f"cannot create the output folder {folder} ({reason}); choose another --out"
            ) from None
    if final.exists() and final.is_dir():
        raise HotspotInputError(f"{final} is a folder; --out needs a file path")
    temporary = folder / f".{final.stem}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}{final.suffix}"
    run = _current.get()
    try:
        yield temporary
        if run is not None:
            run.stage(temporary, final)
        else:
            os.replace(temporary, final)
    except BaseException as exc:
        # judged before the temporary file is removed, so a full disk still looks full
        failure = (
            _write_failure(final, exc)
            if isinstance(exc, Exception) and not isinstance(exc, HotspotInputError)
            else None
        )
        _remove(temporary)
        if failure is not None:
            raise failure from None
        raise
