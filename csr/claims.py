"""Claim files: one run directory is trained by one worker at a time, across processes and hosts
that share the runs folder.

:func:`claim` takes ``<run_dir>/claim.json`` atomically (``O_CREAT | O_EXCL``) with the worker's
id, host, pid and a heartbeat that a background thread refreshes; it is removed when training
ends (also on errors). A second worker asking for the same run waits — until the run is done
(it then loads it) or the claim goes **stale**: its heartbeat older than ``stale_after`` seconds
(``$CSR_CLAIM_STALE_S``, default 60), or its process gone on this host. A stale claim is taken
over (the new holder resumes from the run's last checkpoint): this is how a killed worker's run
is finished by the worker Dask retries it on.

Example
-------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with claim(d, d / "done.json") as owned:
...     holder(d)["pid"] == os.getpid(), owned
(True, True)
>>> holder(d) is None  # released
True
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

__all__ = ["claim", "holder", "is_stale", "worker_id", "ClaimTimeout"]

CLAIM = "claim.json"
_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ClaimTimeout(TimeoutError):
    """Waited longer than ``timeout`` for another worker's live claim."""


def worker_id() -> str:
    """This process's claim id (``host:pid:random``; the Dask worker's name is added when known)."""
    import sys

    if "distributed" not in sys.modules:  # not in a Dask worker (which has it imported)
        return _ID
    try:
        from distributed import get_worker

        return f"{_ID}:{get_worker().name}"
    except (ImportError, ValueError):
        return _ID


def stale_after() -> float:
    return float(os.environ.get("CSR_CLAIM_STALE_S", "60"))


def holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The claim on ``run_dir`` (``None`` when free; ``{}`` while it is being written)."""
    try:
        text = (Path(run_dir) / CLAIM).read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(doc: dict[str, Any], after: float | None = None, now: float | None = None) -> bool:
    """A claim whose heartbeat is older than ``after`` seconds, or whose process on this host is
    gone. An empty (half-written) claim is not stale: its writer is alive a moment ago."""
    if not doc:
        return False
    after = stale_after() if after is None else after
    now = time.time() if now is None else now
    if now - float(doc.get("heartbeat", 0.0)) > after:
        return True
    return doc.get("host") == socket.gethostname() and not _alive(int(doc.get("pid", -1)))


def _doc(wid: str) -> str:
    return json.dumps({"worker": wid, "host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()})


def _write_over(path: Path, text: str) -> None:
    from . import store

    store.atomic_write(path, text)


@contextlib.contextmanager
def claim(run_dir: str | Path, done: str | Path, *, poll: float = 0.5, timeout: float | None = None,
          after: float | None = None) -> Iterator[bool]:
    """Hold the claim on ``run_dir`` for the ``with`` block; yields ``True`` when claimed, or
    ``False`` at once when the file ``done`` exists (the run is finished: nothing to train).

    Waits while another live worker holds it; takes a stale claim over. Raises
    :class:`ClaimTimeout` after ``timeout`` seconds of waiting (``None``: no limit)."""
    run_dir, done = Path(run_dir), Path(done)
    path = run_dir / CLAIM
    wid = worker_id()
    after = stale_after() if after is None else after
    start = time.monotonic()
    while True:
        if done.exists():
            yield False
            return
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            doc = holder(run_dir)
            if doc is not None and is_stale(doc, after):
                _write_over(path, _doc(wid))  # take it over, then check no other taker won
                time.sleep(min(poll, 0.2))
                if (holder(run_dir) or {}).get("worker") == wid:
                    break
            elif timeout is not None and time.monotonic() - start > timeout:
                raise ClaimTimeout(f"{run_dir}: claimed by {doc.get('worker') if doc else '?'} for over {timeout:g} s")
            time.sleep(poll)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(_doc(wid))
        break
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(max(after / 4, 0.05)):
            if (holder(run_dir) or {}).get("worker") != wid:
                return  # taken over (we stalled): the other worker owns it now
            _write_over(path, _doc(wid))

    thread = threading.Thread(target=beat, name=f"csr-claim-{run_dir.name}", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join()
        if (holder(run_dir) or {}).get("worker") == wid:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
