"""Atomic file replacement: a reader sees the old file or the complete new one, never half of one.

Every output is written to a temporary file in the destination's folder and moved into
place with ``os.replace`` only when complete; a crash or Ctrl-C removes the temporary file
and leaves the last good output untouched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator

from hotspot.errors import HotspotInputError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, on any error delete it.

    The temporary name keeps the suffix, so drivers that pick a format by extension work.
    """
    final = Path(path)
    folder = final.parent if str(final.parent) else Path(".")
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HotspotInputError(f"cannot create the output folder {folder}: {exc.strerror}; choose another --out") from None
    if final.exists() and final.is_dir():
        raise HotspotInputError(f"{final} is a folder; --out needs a file path")
    temporary = folder / f".{final.stem}.partial-{uuid.uuid4().hex[:8]}{final.suffix}"
    try:
        yield temporary
        os.replace(temporary, final)
    except BaseException:
        for leftover in folder.glob(f"{temporary.name}*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
