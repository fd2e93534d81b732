"""File output, one policy for every command.

An output path is checked before any work starts (its folder exists and takes a file, it is not a
folder, not one of the inputs, not another output of the same run); the files are written only when
everything they hold has been made, each to a temporary file beside its target and renamed into place.
A failure at any point leaves every existing file as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot be used; the message is one line naming the option and the path."""


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _takes_a_file(folder: Path) -> str | None:
    """Why `folder` cannot take a new file, or None (tried for real: permissions, read-only mounts)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    os.unlink(probe)
    return None


def check_outputs(outputs: dict[str, str | Path], inputs: tuple[str | Path, ...] = ()) -> dict[str, Path]:
    """The output paths by option (`{"--tex": "o.tex"}`), checked; OutputError on the first bad one."""
    checked: dict[str, Path] = {}
    for option, raw in outputs.items():
        path = Path(raw)
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise OutputError(f"{option}: folder {parent} does not exist")
        if path.is_dir():
            raise OutputError(f"{option}: {path} is a folder")
        for source in inputs:
            if _same(path, Path(source)):
                raise OutputError(f"{option}: {path} is the input {source}; choose another file")
        for other, seen in checked.items():
            if _same(path, seen):
                raise OutputError(f"{option}: {path} is also the file of {other}; give each output its own file")
        why = _takes_a_file(parent)
        if why is not None:
            raise OutputError(f"{option}: cannot write in folder {parent} ({why})")
        checked[option] = path
    return checked


def write_files(files: dict[Path, str | bytes]) -> None:
    """Write every file, or none: all temporary files first, then the renames."""
    staged: list[tuple[str, Path]] = []
    path = None
    try:
        for path, data in files.items():
            raw = data.encode("utf-8") if isinstance(data, str) else data
            fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            os.chmod(tmp, 0o644)
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write one file so that a failure leaves any existing file untouched."""
    write_files({Path(path): data})
