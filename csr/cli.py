"""The ``csr`` command (also ``python -m csr``).

``csr report --cost-matrix FILE|BUILDER [--dataset D] [--profile smoke|cpu|gpu] [--eps E]
[--methods a,b,...] [--out DIR]`` trains (cached) and scores every method family for your
cost matrix — the ``your_cost_matrix`` notebook, executed with papermill — and writes the table
(CSV + JSON), the figures (PNG) and the rendered notebook (``.ipynb`` and ``.html``) into DIR.

``csr run NOTEBOOK [-p NAME VALUE ...] [-y YAML] [--out FILE]`` executes one of the book's
notebooks with parameters (papermill underneath); every ``-p`` name is checked against the
notebook's ``parameters`` cell, so a misspelt one is an error that lists the known ones instead
of a run with the default.

Every bad input fails with one message (exit status 2) before anything is written. Relative
paths are read from the directory you run the command in.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "notebook_path", "notebook_parameters", "parse_value"]

REPORT_NOTEBOOK = "your_cost_matrix"


class CLIError(Exception):
    """A user error: printed as ``csr: error: <message>``, exit status 2."""


def notebooks_dir() -> Path:
    """The book's notebook sources (a checkout's ``notebooks/``)."""
    d = Path(__file__).resolve().parents[1] / "notebooks"
    if not d.is_dir():
        raise CLIError(f"the notebooks are not here ({d}): `csr run` and `csr report` need a checkout of the "
                       "repository (pip install -e .)")
    return d


def notebook_path(name: str) -> Path:
    """A notebook by name (``quickstart``) or path (``notebooks/quickstart.ipynb``)."""
    p = Path(name).expanduser()
    if p.suffix == ".ipynb":
        q = p if p.is_absolute() else Path.cwd() / p
        if q.is_file():
            return q
        raise CLIError(f"notebook not found: {str(q)!r}")
    known = sorted(f.stem for f in notebooks_dir().glob("*.ipynb"))
    if name not in known:
        raise CLIError(f"unknown notebook {name!r}; known: {', '.join(known)}")
    return notebooks_dir() / f"{name}.ipynb"


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The names and default values of the notebook's ``parameters`` cell."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        raise CLIError(f"notebook {path.name} has no cell tagged 'parameters'")
    out: dict[str, Any] = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = None
    return out


def parse_value(text: str) -> Any:
    """A ``-p`` value as papermill reads it: int, float, True / False / None, else the text.

    >>> [parse_value(v) for v in ("3", "0.5", "True", "none", "odd", "inf")]
    [3, 0.5, True, None, 'odd', inf]
    """
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    return text


def _user_path(text: str) -> str:
    """A path the user typed, made absolute against their directory (the kernel runs elsewhere)."""
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else Path.cwd() / p)


def _check(name: str, params: dict[str, Any]) -> None:
    """The notebook's own checks, in-process and before anything is written: its setup (the
    parameters, the data, the cost matrix) as its setup cell makes it."""
    from .profiles import setup

    setup_kw = {k: v for k, v in params.items() if k not in ("results_dir",)}
    try:
        setup(name, verbose=False, **setup_kw)
    except ValueError as e:  # ParameterError, CostMatrixError, unknown dataset: one clear message
        raise CLIError(str(e)) from None


def _executor_env(args: argparse.Namespace) -> dict[str, str]:
    """``--executor`` / ``--scheduler`` as the environment the kernel reads (csr.executor), the
    scheduler reached first so that a wrong address fails before anything is written."""
    env: dict[str, str] = {}
    name = args.executor or ("dask" if args.scheduler else None)
    if name:
        env["CSR_EXECUTOR"] = name  # argparse checked it is one of csr.executor.EXECUTORS
    scheduler = args.scheduler or os.environ.get("CSR_DASK_SCHEDULER")
    if name == "dask":
        if not scheduler:
            raise CLIError("--executor dask needs --scheduler tcp://HOST:PORT (or $CSR_DASK_SCHEDULER)")
        try:
            from distributed import Client

            Client(scheduler, timeout=10, set_as_default=False).close()
        except ImportError:
            raise CLIError("--scheduler needs dask[distributed] (pip install -r requirements.txt)") from None
        except (OSError, TimeoutError) as e:
            raise CLIError(f"no Dask scheduler at {scheduler!r}: {e}") from None
        env["CSR_DASK_SCHEDULER"] = scheduler
    return env


def _execute(path: Path, out_nb: Path, params: dict[str, Any], progress: bool,
             env: dict[str, str] | None = None) -> None:
    import papermill as pm

    os.environ.update(env or {})

    os.environ["CSR_INVOCATION_DIR"] = str(Path.cwd())  # relative paths inside the kernel: the user's directory
    # The kernel inherits the environment: its training / evaluation bars (csr.progress) go to
    # this terminal, not into the executed notebook.
    os.environ["CSR_PROGRESS"] = "terminal" if progress else "off"
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"executing {path.name} (progress of training and evaluation below; --quiet for none)",
              file=sys.stderr, flush=True)
    pm.execute_notebook(str(path), str(out_nb), parameters=params, cwd=str(path.parent), kernel_name="python3",
                        progress_bar=False)


def _html(nb_path: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_path, as_version=4))
    from . import store

    return store.atomic_write(nb_path.with_suffix(".html"), body)


def cmd_run(args: argparse.Namespace) -> int:
    path = notebook_path(args.notebook)
    known = notebook_parameters(path)
    params: dict[str, Any] = {}
    if args.yaml:
        import yaml

        extra = yaml.safe_load(args.yaml)
        if not isinstance(extra, dict):
            raise CLIError(f"-y must be a YAML mapping of parameters, got {args.yaml!r}")
        params.update(extra)
    for name, value in args.p or []:
        params[name] = parse_value(value)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise CLIError(f"notebook {path.stem!r} has no parameter {', '.join(map(repr, unknown))}; "
                       f"known: {', '.join(known)}")
    if isinstance(params.get("cost_matrix"), str) and Path(params["cost_matrix"]).suffix.lower() in (
            ".csv", ".tsv", ".txt", ".json", ".yaml", ".yml"):
        from .costs import resolve_user_path

        try:
            params["cost_matrix"] = str(resolve_user_path(params["cost_matrix"]))
        except ValueError as e:
            raise CLIError(str(e)) from None
    from .studies import STUDIES

    if path.stem in STUDIES.names():
        _check(path.stem, {k: v for k, v in params.items() if k in known})
    env = _executor_env(args)
    out = Path(_user_path(args.out)) if args.out else Path.cwd() / f"{path.stem}-out.ipynb"
    _execute(path, out, params, progress=not args.quiet, env=env)
    print(f"wrote {out}")
    if args.html:
        print(f"wrote {_html(out)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    path = notebook_path(REPORT_NOTEBOOK)
    params: dict[str, Any] = {"profile": args.profile, "cost_matrix": args.cost_matrix, "device": args.device,
                              "seed": args.seed}
    if Path(args.cost_matrix).suffix.lower() in (".csv", ".tsv", ".txt", ".json", ".yaml", ".yml") or "/" in args.cost_matrix:
        from .costs import resolve_user_path

        try:
            params["cost_matrix"] = str(resolve_user_path(args.cost_matrix))
        except ValueError as e:
            raise CLIError(str(e)) from None
    if args.dataset:
        params["dataset"] = args.dataset
    if args.eps is not None:
        params["eps"] = args.eps
    if args.methods:
        params["methods"] = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.epochs is not None:
        params["epochs"] = args.epochs
    _check(REPORT_NOTEBOOK, params)
    env = _executor_env(args)
    out = Path(_user_path(args.out))
    params["results_dir"] = str(out)
    nb_out = out / f"{REPORT_NOTEBOOK}.ipynb"
    _execute(path, nb_out, params, progress=not args.quiet, env=env)
    html = _html(nb_out)
    print(f"wrote {out / 'table.csv'}, {out / 'table.json'}, the figures and {html}")
    return 0


def _executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=["serial", "processes", "dask"],
                   help="where the grid of trainings runs: in this process (default), a local process pool "
                        "($CSR_WORKERS processes) or a Dask cluster")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="a Dask scheduler (implies --executor dask; default $CSR_DASK_SCHEDULER); its workers "
                        "must see the same runs folder ($CSR_RUNS_DIR on a shared filesystem)")


def build_parser() -> argparse.ArgumentParser:
    from .studies.your_cost_matrix import FAMILIES

    ap = argparse.ArgumentParser(
        prog="csr", description="Cost-sensitive adversarial robustness: train, attack and certify classifiers for "
                                "your cost matrix, and run the book's notebooks.")
    sub = ap.add_subparsers(dest="command", required=True)
    rp = sub.add_parser(
        "report", help="every method for your cost matrix, certified and empirical side by side",
        description="Train (cached) and score every method family for one cost matrix under one threat model "
                    "(l_inf eps in pixel space): clean error, empirical robust cost and cost-sensitive robust error "
                    "(pairwise targeted PGD and the cost-aware attack), certified robust cost (Wong-Kolter for the "
                    "l_inf models, the cost-sensitive smoothing certificate in l2 for the smoothed ones). Writes "
                    "table.csv, table.json, the figures and the rendered notebook into --out.")
    rp.add_argument("--cost-matrix", required=True, metavar="FILE|BUILDER",
                    help="a .csv/.json/.yaml file (header of class names and an index column optional; , ; tab or "
                         "spaces), a stored name or a builder such as 'odd', 'single_pair:3,5', 'protect:3,c=10'")
    rp.add_argument("--dataset", help="dataset name (default: the profile's, mnist5k)")
    rp.add_argument("--profile", default="smoke", choices=["smoke", "cpu", "gpu"],
                    help="smoke: minutes on 2 CPU cores; cpu: meaningful on mnist5k; gpu: full data (default smoke)")
    rp.add_argument("--eps", type=float, help="l_inf radius in pixel space, inputs in [0, 1] (default 0.1)")
    rp.add_argument("--methods", help=f"comma-separated method families (default all: {', '.join(FAMILIES)})")
    rp.add_argument("--epochs", type=int, help="training epochs (default: the profile's)")
    rp.add_argument("--out", default="csr-report", help="output folder (default ./csr-report)")
    rp.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default auto)")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--quiet", action="store_true", help="no progress bars")
    _executor_args(rp)
    rp.set_defaults(func=cmd_report)
    rr = sub.add_parser("run", help="execute one of the book's notebooks with parameters",
                        description="Execute a notebook (a name such as 'quickstart' or an .ipynb path) with "
                                    "papermill; -p names are checked against its parameters cell.")
    rr.add_argument("notebook")
    rr.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"),
                    help="a parameter (numbers, True/False/None and text as papermill reads them)")
    rr.add_argument("-y", "--yaml", help="parameters as a YAML mapping, e.g. \"cost_matrix: [[0, 1], [1, 0]]\"")
    rr.add_argument("--out", help="output notebook (default ./<notebook>-out.ipynb)")
    rr.add_argument("--html", action="store_true", help="also render the output notebook to HTML")
    rr.add_argument("--quiet", action="store_true", help="no progress bars")
    _executor_args(rr)
    rr.set_defaults(func=cmd_run)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        return int(args.func(args))
    except CLIError as e:
        ap.exit(2, f"csr: error: {e}\n")
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
