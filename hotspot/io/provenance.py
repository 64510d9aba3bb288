"""Provenance: what produced an output, so a published map can be traced back and re-run.

A :class:`Provenance` records the tool version, the command line, the parameters, every
input file with its size and SHA-256, how many records were kept and rejected (by reason),
any disclosure control applied, and the UTC time of the run. The writers in
:mod:`hotspot.io.outputs` store it in a GeoPackage's metadata tables, as GeoTIFF tags, and as a
``<stem>.provenance.json`` file beside every CSV.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotspot.core.errors import HotspotInputError

SCHEMA = "hotspot-provenance/v1"
"""Identifies the JSON layout below; stored as ``md_standard_uri`` in the GeoPackage metadata."""

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_input(path: str | Path) -> list[dict[str, Any]]:
    """One entry ``{path, size_bytes, sha256}`` per file; a folder is described file by file (sorted, recursive).

    ``"demo"`` (the embedded demo town) is described as ``{path: "demo", size_bytes: None, sha256: None}``.
    """
    if str(path) == "demo":
        return [{"path": "demo", "size_bytes": None, "sha256": None}]
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        return [{"path": str(f), "size_bytes": f.stat().st_size, "sha256": file_sha256(f)} for f in files]
    if p.is_file():
        return [{"path": str(p), "size_bytes": p.stat().st_size, "sha256": file_sha256(p)}]
    raise HotspotInputError(f"input {path} does not exist; cannot record its provenance")


def _jsonable(value: Any) -> Any:
    """Parameters as JSON: paths and other objects become strings, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return str(value)


@dataclass
class Provenance:
    """Where an output came from.

    Attributes
    ----------
    tool : str
        ``"hotspot"``.
    version : str
        ``hotspot.__version__`` at the time of the run.
    command : str
        The subcommand or library entry point, e.g. ``"rank"``.
    argv : list of str
        The full command line (``sys.argv``).
    parameters : dict
        Every parameter that shaped the output (units in the names, e.g. ``cell_size_m``).
    inputs : list of dict
        ``{path, size_bytes, sha256}`` per input file.
    records_kept : int or None
        Records analysed; None when the output is not built from records.
    records_rejected : dict
        Rejected records by reason (see :data:`hotspot.core.records.REJECT_REASONS`); zeros omitted.
    crs : str or None
        The projected CRS of the outputs.
    disclosure : list of str
        One note per disclosure-control step applied (see :mod:`hotspot.io.disclosure`).
    created_utc : str
        ISO 8601 UTC time the provenance was captured, e.g. ``2026-11-24T05:30:00Z``.
    python : str
        Python and platform, for reproducing numeric results.
    """

    tool: str
    version: str
    command: str
    argv: list[str]
    parameters: dict[str, Any]
    inputs: list[dict[str, Any]]
    records_kept: int | None
    records_rejected: dict[str, int]
    crs: str | None
    disclosure: list[str]
    created_utc: str
    python: str

    @classmethod
    def capture(
        cls,
        command: str,
        parameters: dict[str, Any] | None = None,
        inputs: Iterable[str | Path] = (),
        records=None,
        *,
        argv: list[str] | None = None,
        crs: str | None = None,
        now: datetime | None = None,
    ) -> Provenance:
        """Capture the provenance of a run.

        Parameters
        ----------
        command : str
            The command or entry point name, e.g. ``"rank"``.
        parameters : dict, optional
            The run's parameters (JSON-serialisable after paths become strings). Default empty.
        inputs : iterable of path
            Input files or folders (folders are hashed file by file); ``"demo"`` for the demo town.
            Default none. A missing path raises :class:`HotspotInputError`.
        records : Records, optional
            The analysed records: kept count, rejected counts by reason, and (when ``crs`` is
            not given) the CRS. Default None.
        argv : list of str, optional
            The command line; default ``sys.argv``.
        crs : str, optional
            The outputs' CRS; default ``records.crs`` when records are given.
        now : datetime, optional
            The time of the run (tests pass a fixed time); default the current UTC time.
        """
        from hotspot import __version__

        described: list[dict[str, Any]] = []
        for item in inputs:
            described.extend(describe_input(item))
        kept = None
        rejected: dict[str, int] = {}
        if records is not None:
            kept = int(len(records))
            rejected = {k: int(v) for k, v in records.reject_counts.items() if v}
            crs = crs or getattr(records, "crs", None)
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return cls(
            tool="hotspot",
            version=__version__,
            command=command,
            argv=list(sys.argv if argv is None else argv),
            parameters=_jsonable(dict(parameters or {})),
            inputs=described,
            records_kept=kept,
            records_rejected=rejected,
            crs=crs,
            disclosure=[],
            created_utc=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            python=f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
        )

    def with_disclosure(self, note: str | None) -> Provenance:
        """A copy with one more disclosure-control note (``None`` or empty adds nothing)."""
        if not note:
            return self
        return replace(self, disclosure=[*self.disclosure, note])

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    def to_json(self, indent: int | None = 2) -> str:
        """The provenance as JSON text (UTF-8 safe, keys in a fixed order)."""
        # The fields as they are (asdict's deep copy cost ~7 ms a call, and a run writes the JSON into every file).
        data = {"schema": SCHEMA, **{f.name: getattr(self, f.name) for f in fields(self)}}
        return json.dumps(data, indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Provenance:
        data = json.loads(text)
        data.pop("schema", None)
        return cls(**data)

    def summary_lines(self) -> list[str]:
        """Short human-readable lines (for GeoTIFF tags, report footers)."""
        lines = [
            f"{self.tool} {self.version}, command '{self.command}', run {self.created_utc}",
            "command line: " + " ".join(self.argv),
        ]
        if self.records_kept is not None:
            rejected = sum(self.records_rejected.values())
            lines.append(
                f"records kept: {self.records_kept:,}; rejected: {rejected:,}"
                + (" (" + ", ".join(f"{k} {v:,}" for k, v in self.records_rejected.items()) + ")" if rejected else "")
            )
        for item in self.inputs:
            size = (
                ""
                if item["size_bytes"] is None
                else f" ({item['size_bytes']:,} bytes, sha256 {item['sha256'][:12]}...)"
            )
            lines.append(f"input: {item['path']}{size}")
        lines.extend(f"disclosure: {note}" for note in self.disclosure)
        return lines


def provenance_sidecar(path: str | Path) -> Path:
    """The provenance file written beside an output: ``<stem>.provenance.json``."""
    p = Path(path)
    return p.with_name(p.stem + ".provenance.json")
