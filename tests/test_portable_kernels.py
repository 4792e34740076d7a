"""Pinned CPU kernels (csr.utils.PORTABLE_KERNELS_ENV): the Makefile's line, the import-time
switch, and the error for a half-pinned process."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from csr.utils import PORTABLE_KERNELS_ENV, REPO_ROOT

PROBE = ("import torch, csr.utils as u; "
         "print(u.portable_kernels(), torch.backends.mkldnn.enabled, u.environment()['portable_kernels'])")


def _run(extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_KERNELS_ENV}
    env.update(extra)
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)


def test_makefile_pins_the_same_environment():
    line = re.search(r"^PORTABLE := (.*)$", (REPO_ROOT / "Makefile").read_text(), re.M)
    assert line, "Makefile has no PORTABLE line"
    assert dict(kv.split("=", 1) for kv in line.group(1).split()) == PORTABLE_KERNELS_ENV


def test_pinned_process_turns_onednn_off_and_records_it():
    out = _run(PORTABLE_KERNELS_ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "True"]


def test_unpinned_process_keeps_onednn():
    out = _run({})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "False"]


def test_half_pinned_process_fails_naming_the_variable():
    env = dict(PORTABLE_KERNELS_ENV, MKL_CBWR="AUTO")
    out = _run(env)
    assert out.returncode != 0
    assert "MKL_CBWR" in out.stderr and "CSR_PORTABLE_KERNELS is set" in out.stderr
