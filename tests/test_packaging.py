"""csr as an installable library: the wheel holds every module, declares what they import, and
imports from a fresh virtual environment (not from this checkout).

The wheel is built offline from a copy of the sources (``pip wheel --no-deps --no-build-isolation``:
setuptools comes with the pinned torch) and installed with ``--no-deps`` into a new venv; the
pinned packages of this environment are made visible to it by a ``.pth`` line (the pins live in
this venv, not in the system Python, so ``--system-site-packages`` would not see them).
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
SOURCES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "csr").rglob("*.py") if "__pycache__" not in p.parts)
# Extras-only distributions and the one module allowed to import them (inside its functions).
EXTRA_ONLY = {"plots": {"csr/plots.py"}, "book": {"csr/cli.py"},
              "dask": {"csr/executor.py", "csr/claims.py", "csr/cli.py"}}


def _run(*cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of pyproject.toml, README.md, LICENSE and csr/ (no build/ or
    egg-info left in the checkout)."""
    root = tmp_path_factory.mktemp("build")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "csr", src / "csr", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", root / "dist", ".", cwd=src)
    (whl,) = (root / "dist").glob("csr-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel (``--no-deps``) on top of this environment's pinned packages;
    returns its python."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run(sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel)
    site = Path(_run(py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    # This venv's site-packages as a plain path: its editable csr (a meta-path finder installed by
    # a .pth there) is not activated, so `import csr` can only find the wheel's copy.
    (site / "pinned.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return py


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode())


def test_wheel_holds_every_module(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    missing = [p for p in SOURCES if p not in names]
    assert not missing, f"modules left out of the wheel: {missing}"
    assert "csr/studies/__init__.py" in names or not (REPO / "csr/studies").exists()
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "notebooks/", "benchmarks/"))]


def test_wheel_metadata_lists_the_declared_dependencies(wheel):
    meta = _metadata(wheel)
    got = {str(Requirement(r)) for r in meta.get_all("Requires-Dist") or []}
    want = {str(Requirement(r)) for r in PYPROJECT["dependencies"]}
    for extra, reqs in PYPROJECT.get("optional-dependencies", {}).items():
        for r in reqs:
            req = Requirement(r)
            req.marker = Marker(f'extra == "{extra}"')
            want.add(str(req))
    assert got == want
    assert set(meta.get_all("Provides-Extra") or []) == set(PYPROJECT.get("optional-dependencies", {}))
    assert PYPROJECT["dependencies"], "an installed csr needs torch, numpy, ... declared"


def _imported_top_levels() -> dict[str, set[str]]:
    """Top-level module names each csr source imports, function-local imports included."""
    out: dict[str, set[str]] = {}
    for rel in SOURCES:
        for node in ast.walk(ast.parse((REPO / rel).read_text(), rel)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top != "csr" and top not in sys.stdlib_module_names and top != "__future__":
                    out.setdefault(top, set()).add(rel)
    return out


def test_every_third_party_import_is_declared():
    """Each third-party import of csr/ comes from a declared dependency; an extra's distribution
    (matplotlib, seaborn) only from the module that extra is for."""
    core = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["dependencies"]}
    extras = {e: {canonicalize_name(Requirement(r).name) for r in reqs}
              for e, reqs in PYPROJECT.get("optional-dependencies", {}).items()}
    dists = metadata.packages_distributions()
    problems = []
    for top, files in sorted(_imported_top_levels().items()):
        names = {canonicalize_name(d) for d in dists.get(top, [])}
        if not names:
            problems.append(f"{top} (imported by {sorted(files)}) is not installed here")
        elif not names & core:
            ok = [e for e, allowed in EXTRA_ONLY.items() if names & extras.get(e, set()) and files <= allowed]
            if not ok:
                problems.append(f"{top} ({sorted(names)}, imported by {sorted(files)}) is not in pyproject's dependencies")
    assert not problems, "\n".join(problems)


def test_pinned_environment_satisfies_the_ranges():
    """requirements*.txt (exact pins) lie inside the declared ranges (extras included)."""
    pins = {}
    for f in ("requirements.txt", "requirements-test.txt"):
        for line in (REPO / f).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                req = Requirement(line)
                (spec,) = req.specifier
                assert spec.operator == "==", f"{f}: {line} is not an exact pin"
                pins[canonicalize_name(req.name)] = spec.version
    reqs = [Requirement(r) for r in PYPROJECT["dependencies"]]
    reqs += [Requirement(r) for rs in PYPROJECT.get("optional-dependencies", {}).values() for r in rs]
    for req in reqs:
        name = canonicalize_name(req.name)
        if name == "csr":
            continue
        version = pins.get(name) or metadata.version(req.name)  # not pinned itself: what the pins brought
        assert req.specifier.contains(version, prereleases=True), f"{req} excludes the pinned {name}=={version}"


def test_installed_wheel_imports_every_module(installed, tmp_path):
    """From the fresh venv (cwd outside the checkout, no CSR_* variables): csr is the wheel's copy
    and every module of it, found by walking the installed package, imports."""
    script = r"""
import importlib, json, pkgutil, sys
import csr
mods = ["csr"] + sorted(m.name for m in pkgutil.walk_packages(csr.__path__, "csr."))
failed = {}
for m in mods:
    try:
        importlib.import_module(m)
    except Exception as e:
        failed[m] = f"{type(e).__name__}: {e}"
print(json.dumps({"file": csr.__file__, "prefix": sys.prefix, "modules": mods, "failed": failed}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSR_", "PYTHON"))}
    out = json.loads(_run(installed, "-c", script, cwd=tmp_path, env=env).stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().is_relative_to(Path(out["prefix"]).resolve()), out["file"]
    assert not out["failed"], out["failed"]
    want = {p[:-3].replace("/", ".").removesuffix(".__init__") for p in SOURCES}
    assert want <= set(out["modules"]), sorted(want - set(out["modules"]))


def test_installed_wheel_finds_its_stored_data(installed, tmp_path):
    """Paper results and stored matrices are package data; data/ and runs/ of an installed csr
    are per-user folders, never inside site-packages nor the working directory."""
    script = r"""
import os
from csr import costs, utils
from csr.studies import STUDIES
assert utils.paper_results("zhang_evans_2019")["table1"]
assert all(STUDIES.get(n).paper_results() for n in STUDIES.names() if STUDIES.get(n).paper)
assert costs.load("vehicle_real", 10).m == 10 and "vehicle_real" in costs.named_matrices()
xdg = os.environ["XDG_DATA_HOME"]
assert str(utils.runs_dir()) == os.path.join(xdg, "csr", "runs"), utils.runs_dir()
assert str(utils.data_dir()) == os.path.join(xdg, "csr", "data"), utils.data_dir()
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSR_", "PYTHON"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    _run(installed, "-c", script, cwd=tmp_path, env=env)


def test_book_workflow_publishes_make_html():
    """The Pages workflow (it cannot run here): valid YAML, builds with `make html` (committed
    chapters, no re-execution), uploads _build/html and deploys it with the Pages actions."""
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    assert "push" in on and on["push"]["branches"] == ["main"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    runs = [s.get("run", "") for s in build["steps"]]
    assert any(r.strip() == "make html" for r in runs)
    assert not any("papermill" in r or "make book" in r or "make chapters" in r for r in runs)
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["steps"][0]["uses"].startswith("actions/deploy-pages")
    assert wf["permissions"]["pages"] == "write" and wf["permissions"]["id-token"] == "write"
