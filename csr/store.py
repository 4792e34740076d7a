"""The one persistence layer: every file the library writes goes through this module.

Every writer is atomic: the bytes go to a temporary file in the destination's directory
(``.<name>.<random>.tmp``), are flushed and ``fsync``-ed, and the temporary file is renamed over
the destination with :func:`os.replace`. A process killed at any moment therefore leaves either
the old file or the new one, never a truncated mix; on an exception the temporary file is
removed (only a SIGKILL can leave one behind, and it never carries the destination's name or
suffix, so globs such as ``eval-*.json`` do not see it). Parent folders are created as needed.

Formats are the library's historical ones (existing files load unchanged):

* JSON: ``json.dumps(to_jsonable(obj), indent=1)``, keys in insertion order, no trailing newline;
* ``.npz``: :func:`numpy.savez_compressed`; ``.pt``: :func:`torch.save`;
* CSV: :meth:`pandas.DataFrame.to_csv` with ``index=False``.

Example
-------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = write_json(d / "a.json", {"x": 1})
>>> read_json(d / "a.json")
{'x': 1}
>>> cached_json(d / "a.json", lambda: 1 / 0)  # present: not computed again
{'x': 1}
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

import numpy as np

from .utils import to_jsonable

__all__ = [
    "atomic_write", "atomic_open", "write_json", "read_json", "cached_json", "save_torch", "load_torch",
    "save_npz", "load_npz", "write_csv", "read_csv", "save_figure", "TEMP_SUFFIX",
]

#: Suffix of the temporary files (``.<name>.<random>.tmp`` next to the destination).
TEMP_SUFFIX = ".tmp"

_UMASK = os.umask(0o022)  # read the process umask once (setting it back at once)
os.umask(_UMASK)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
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


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file object on a temporary file next to ``path``; on a clean exit it is flushed,
    ``fsync``-ed and renamed onto ``path``; on an exception it is removed and ``path`` is untouched.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8, no newline translation).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    tmp = Path(tmp_name)
    try:
        kwargs: dict[str, Any] = {} if mode == "wb" else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600; give what an ordinary open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, written verbatim, or bytes) to ``path`` atomically."""
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise ValueError(f"atomic_write takes str or bytes, got {type(data).__name__}")
    with atomic_open(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    return Path(path)


def append_line(path: str | Path, line: str) -> Path:
    """Append one line (``line`` without its newline) to a log such as ``<run>/log.jsonl``: one
    ``O_APPEND`` write, so concurrent writers' lines never interleave within a line."""
    if "\n" in line:
        raise ValueError("append_line takes one line without a newline")
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return path


# ----------------------------------------------------------------------------- JSON
def dumps_json(obj: Any, *, indent: int | None = 1, sort_keys: bool = False) -> str:
    """The library's JSON text of ``obj`` (numpy / torch / Path values converted; NaN allowed)."""
    return json.dumps(to_jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=True)


def write_json(path: str | Path, obj: Any, *, indent: int | None = 1, sort_keys: bool = False) -> Path:
    """Write ``obj`` as JSON (``indent=1``, keys in insertion order as every existing file) atomically."""
    return atomic_write(path, dumps_json(obj, indent=indent, sort_keys=sort_keys))


def read_json(path: str | Path) -> Any:
    """The JSON document at ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def cached_json(path: str | Path, compute: Callable[[], Any]) -> Any:
    """The JSON document at ``path``; when the file is missing, ``compute()`` it and write it first
    (atomically). The value returned is always the one read back from the file, so the first call
    and every later one return the same thing. Name ``path`` after what determines the result."""
    path = Path(path)
    if not path.exists():
        write_json(path, compute())
    return read_json(path)


# ----------------------------------------------------------------------------- torch
def save_torch(obj: Any, path: str | Path) -> Path:
    """:func:`torch.save` ``obj`` to ``path`` atomically (checkpoints, weights)."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def load_torch(path: str | Path, map_location: Any = None, *, weights_only: bool = True) -> Any:
    """:func:`torch.load` (``weights_only=True`` by default: tensors, dicts, lists, numbers)."""
    import torch

    return torch.load(Path(path), map_location=map_location, weights_only=weights_only)


# ----------------------------------------------------------------------------- numpy
def save_npz(path: str | Path, **arrays: Any) -> Path:
    """Write ``arrays`` as a compressed ``.npz`` at exactly ``path`` (no suffix is added), atomically."""
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return Path(path)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (loaded into memory; the file is closed)."""
    with np.load(Path(path), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# ----------------------------------------------------------------------------- CSV
def write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]] | Any) -> Path:
    """Write ``rows`` (a DataFrame or records) as CSV without the index, the whole file atomically."""
    import pandas as pd

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return atomic_write(path, df.to_csv(index=False))


def read_csv(path: str | Path) -> Any:
    """The CSV at ``path`` as a :class:`pandas.DataFrame`."""
    import pandas as pd

    return pd.read_csv(Path(path))


# ----------------------------------------------------------------------------- figures
def save_figure(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """``fig.savefig`` to ``path`` atomically; the format comes from the suffix unless given."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".") or None)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, **kwargs)
    return path
