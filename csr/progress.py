"""Progress bars (tqdm, with rate and ETA) for training and evaluation — where someone watches.

Where a bar is drawn is decided by ``$CSR_PROGRESS``:

* ``0`` / ``off`` / ``false`` / ``no``: no bars (``make`` exports this for nbval, the chapters and
  the tests: executed notebooks keep no bar in their outputs);
* ``terminal`` / ``1`` / ``on`` / ``true`` / ``yes``: bars on the terminal the process was
  started from — inside a Jupyter kernel this is the kernel's own stderr, *not* the notebook,
  which is how ``csr report`` / ``csr run`` show the progress of the notebook they execute
  while its outputs stay clean;
* ``notebook``: bars in the cell's output (stderr);
* unset (``auto``): in a Jupyter kernel, ``notebook`` unless a batch executor (pytest/nbval,
  papermill, nbconvert, jupyter-book) started the kernel; elsewhere ``terminal`` when stderr is
  a terminal, else off.

Example
-------
>>> import os
>>> os.environ["CSR_PROGRESS"] = "off"
>>> mode()
'off'
>>> list(bar(range(3), desc="demo"))  # with no bar the iterable itself
[0, 1, 2]
>>> del os.environ["CSR_PROGRESS"]
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import IO, Any, Iterable, Iterator, TypeVar

__all__ = ["mode", "bar", "ENV"]

ENV = "CSR_PROGRESS"
_OFF = ("0", "off", "false", "no", "none")
_TERMINAL = ("1", "on", "true", "yes", "terminal", "tty")
_BATCH = ("pytest", "nbval", "papermill", "nbconvert", "nbclient", "jupyter-book", "jupyter_book", "sphinx")

T = TypeVar("T")


def _in_kernel() -> bool:
    ip = sys.modules.get("IPython")
    shell = getattr(ip, "get_ipython", lambda: None)() if ip is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


@lru_cache(maxsize=1)
def _started_by_batch_executor() -> bool:
    """Whether this kernel's parent process is a batch executor (its command line names one)."""
    try:
        import psutil

        cmd = " ".join(psutil.Process(os.getppid()).cmdline())
    except Exception:  # no psutil, or the parent is gone: treat as batch (no bar in outputs)
        return True
    return any(b in cmd for b in _BATCH)


def mode() -> str:
    """``"off"``, ``"terminal"`` or ``"notebook"``: where bars go now (see the module docstring).

    An unknown ``$CSR_PROGRESS`` raises, naming the known values."""
    v = os.environ.get(ENV, "").strip().lower()
    if v in ("", "auto"):
        return _auto()
    if v in _OFF:
        return "off"
    if v in _TERMINAL:
        return "terminal"
    if v == "notebook":
        return "notebook"
    raise ValueError(f"${ENV}={os.environ[ENV]!r}: known values are off/0, terminal/1, notebook, auto")


def _auto() -> str:
    if _in_kernel():
        return "off" if _started_by_batch_executor() else "notebook"
    try:
        return "terminal" if sys.stderr.isatty() else "off"
    except (AttributeError, ValueError):
        return "off"


_terminal: IO[str] | None = None


def _terminal_stream() -> IO[str]:
    """The process's real stderr: in a Jupyter kernel ``sys.stderr.fileno()`` is the copy of the
    original descriptor (writes there reach the terminal, not the notebook)."""
    global _terminal
    if _terminal is None:
        try:
            _terminal = open(os.dup(sys.stderr.fileno()), "w", buffering=1, closefd=True)
        except (AttributeError, OSError, ValueError):
            _terminal = sys.__stderr__
    return _terminal


def bar(iterable: Iterable[T], *, total: int | None = None, desc: str | None = None, leave: bool = False,
        unit: str = "it", **kw: Any) -> Iterator[T] | Iterable[T]:
    """``iterable`` wrapped in a tqdm bar where :func:`mode` says one is watched, else itself.

    Args:
        iterable: what to iterate over.
        total: its length when ``len()`` does not give it (the ETA needs it).
        desc: the bar's label, e.g. ``"pgd_at epoch 3/10"``.
        leave: keep the finished bar on screen.
        unit: what one step is called (``"batch"``, ``"target"``, ``"model"``).
    """
    where = mode()
    if where == "off":
        return iterable
    from tqdm import tqdm

    file = _terminal_stream() if where == "terminal" else sys.stderr
    return tqdm(iterable, total=total, desc=desc, leave=leave, unit=unit, file=file, dynamic_ncols=True, **kw)
