"""The trainer: schedules, methods' losses against hand computations, determinism, resume after
a real kill, selection, and bad configs failing before anything is written."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from csr import costs
from csr.attacks import PGD, robust_accuracy
from csr.data import load_dataset
from csr.train import METHODS, MethodContext, TrainConfig, cost_sensitive_penalty, eps_at, lr_at, train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small_cfg(**kw):
    base = dict(dataset="digits", model="mlp", model_kwargs={"hidden": [32]}, epochs=3, batch_size=64,
                lr=3e-3, n_train=400, n_val=100, progress=False, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


# --- schedules -------------------------------------------------------------------------------
def test_lr_and_eps_schedules():
    c = TrainConfig(lr=0.1, lr_schedule="step", lr_step=10, lr_step_start=20, lr_gamma=0.5, epochs=60)
    assert [lr_at(c, e) for e in (0, 19, 20, 29, 30, 40)] == [0.1, 0.1, 0.1, 0.1, 0.05, 0.025]
    c = TrainConfig(lr=1.0, lr_schedule="multistep", lr_milestones=[2, 4], lr_gamma=0.1)
    assert [round(lr_at(c, e), 6) for e in range(5)] == [1.0, 1.0, 0.1, 0.1, 0.01]
    c = TrainConfig(lr=1.0, lr_schedule="cosine", epochs=4)
    assert lr_at(c, 0) == 1.0 and lr_at(c, 2) == pytest.approx(0.5)
    # Zhang & Evans: ε from 0.05 to the target over the first 20 epochs
    c = TrainConfig(eps=0.2, eps_start=0.05, eps_warmup_epochs=20, method="pgd_at")
    assert eps_at(c, 0) == pytest.approx(0.05)
    assert eps_at(c, 10) == pytest.approx(0.125)
    assert eps_at(c, 19, 0.5) == pytest.approx(0.05 + 0.15 * 19.5 / 20)
    assert eps_at(c, 25) == pytest.approx(0.2)


# --- losses against hand computations --------------------------------------------------------
def test_cost_sensitive_penalty_by_hand():
    torch.manual_seed(0)
    margins = torch.randn(5, 3)
    y = torch.tensor([0, 0, 1, 2, 2])
    C = torch.tensor([[0.0, 2.0, 1.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    # class 0: mean over two examples of log(1 + 2e^{m1} + e^{m2}); class 1 no targets;
    # class 2: mean over two examples of log(1 + 3 e^{m0})
    l0 = [math.log(1 + 2 * math.exp(margins[n, 1]) + math.exp(margins[n, 2])) for n in (0, 1)]
    l2 = [math.log(1 + 3 * math.exp(margins[n, 0])) for n in (3, 4)]
    expected = sum(l0) / 2 + sum(l2) / 2
    assert cost_sensitive_penalty(margins, y, C).item() == pytest.approx(expected, rel=1e-6)
    # no candidate in the batch → zero, still differentiable
    m = margins.clone().requires_grad_(True)
    p = cost_sensitive_penalty(m, torch.tensor([1, 1, 1, 1, 1]), C)
    p.backward()
    assert p.item() == 0.0 and m.grad is not None


def test_cs_ce_is_ce_plus_alpha_penalty():
    torch.manual_seed(1)
    net = torch.nn.Linear(6, 3)
    x, y = torch.rand(8, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    C = costs.single_pair(3, 0, 2)
    ctx = MethodContext(num_classes=3, cost=C, kwargs={"alpha": 0.7})
    loss, stats = METHODS.get("cs_ce").fn(net, x, y, ctx)
    z = net(x).detach()
    ce = F.cross_entropy(z, y)
    pen = sum(math.log(1 + math.exp(z[n, 2] - z[n, 0])) for n in (0, 3, 6)) / 3
    assert loss.item() == pytest.approx(ce.item() + 0.7 * pen, rel=1e-6)
    assert stats["penalty"] == pytest.approx(pen, rel=1e-6)


def test_cost_sensitive_ce_is_eq_b1_by_hand():
    """Eq. B.1: mean over *all* examples of log(1 + Σ_{j≠y} C[y, j]·e^{z_j − z_y}) — no CE term, no α,
    examples with an empty row add 0."""
    torch.manual_seed(3)
    net = torch.nn.Linear(6, 3)
    x, y = torch.rand(6, 6), torch.tensor([0, 1, 2, 0, 1, 2])
    C = costs.CostMatrix([[0, 2.0, 0.5], [0, 0, 0], [0.1, 0.1, 0]])
    loss, _ = METHODS.get("cost_sensitive_ce").fn(net, x, y, MethodContext(num_classes=3, cost=C))
    z = net(x).detach().double()
    want = 0.0
    for n in range(6):
        k = int(y[n])
        want += math.log(1 + sum(C.values[k, j] * math.exp(z[n, j] - z[n, k]) for j in range(3) if j != k))
    assert loss.item() == pytest.approx(want / 6, rel=1e-6)
    assert METHODS.get("cost_sensitive_ce").defaults == {}


def test_cost_sensitive_ce_with_unit_costs_is_cross_entropy():
    torch.manual_seed(4)
    net = torch.nn.Linear(5, 4)
    x, y = torch.rand(16, 5), torch.randint(0, 4, (16,))
    ctx = MethodContext(num_classes=4, cost=costs.overall(4))
    loss, _ = METHODS.get("cost_sensitive_ce").fn(net, x, y, ctx)
    g = torch.autograd.grad(loss, net.weight)[0]
    ce = F.cross_entropy(net(x), y)
    g_ce = torch.autograd.grad(ce, net.weight)[0]
    assert loss.item() == pytest.approx(ce.item(), rel=1e-6)
    assert torch.allclose(g, g_ce, atol=1e-6)


def test_appendix_b_matrix_and_its_largest_robust_cost():
    """Table 4's matrix (``small_large:low=0.1``); a model for which every pair is reached (no
    certificate) has robust cost Σ_y n_y Σ_j C[y, j] / N — 85.197 with MNIST's test class counts,
    the cell the paper prints for both non-robust classifiers."""
    from csr.metrics import robust_cost

    C = costs.load("small_large:low=0.1", 10)
    assert C.values[3, 1] == 0.1 and C.values[1, 3] == 4.0 and C.values[2, 2] == 0 and not C.is_binary
    counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    y = np.repeat(np.arange(10), counts)
    reach = np.ones((len(y), 10), dtype=bool)
    reach[np.arange(len(y)), y] = False
    assert robust_cost(reach, y, C) == pytest.approx(85.197, abs=5e-4)
    with pytest.raises(ValueError, match="low must be a finite number >= 0"):
        costs.load("small_large:low=-1", 10)


def test_pgd_at_loss_is_ce_on_pgd_examples():
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    ctx = MethodContext(num_classes=3, eps=0.2, kwargs=METHODS.get("pgd_at").resolve_kwargs({"random_start": False}))
    loss, _ = METHODS.get("pgd_at").fn(net, x, y, ctx)
    x_adv = PGD(net, eps=0.2, steps=10, random_start=False)(x, y)
    assert loss.item() == pytest.approx(F.cross_entropy(net(x_adv), y).item(), rel=1e-6)
    assert loss.item() > F.cross_entropy(net(x), y).item()


# --- the trainer -----------------------------------------------------------------------------
def test_deterministic_and_cached(tmp_path, digits):
    cfg = small_cfg()
    a = train(cfg, splits=digits, runs_root=tmp_path / "a")
    b = train(cfg, splits=digits, runs_root=tmp_path / "b")
    pd.testing.assert_frame_equal(a.history.drop(columns="time_s"), b.history.drop(columns="time_s"))
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(v, w), k
    files = {p.name for p in a.run_dir.iterdir()}
    assert {"config.json", "env.json", "metrics.csv", "checkpoint.pt", "best.pt", "done.json"} <= files
    assert a.run_dir.name.startswith("standard-")
    assert json.loads((a.run_dir / "config.json").read_text())["epochs"] == 3
    assert len(a.history) == 3 and a.history["val_acc"].iloc[-1] > 0.5
    # a finished run is returned without training again
    mtime = (a.run_dir / "checkpoint.pt").stat().st_mtime_ns
    again = train(cfg, splits=digits, runs_root=tmp_path / "a")
    assert (a.run_dir / "checkpoint.pt").stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(again.history, a.history)
    # another config → another run directory; device does not enter the hash
    assert small_cfg(seed=1).run_name() != cfg.run_name()
    assert small_cfg(device="auto", progress=True).run_name() == cfg.run_name()


def test_resume_after_kill_gives_same_result(tmp_path):
    """SIGKILL a training process after its first checkpoint, resume, compare with one clean run."""
    kwargs = dict(dataset="digits", model="mlp", model_kwargs={"hidden": [256, 256]}, epochs=3,
                  batch_size=20, n_train=400, method="pgd_at", eps=0.05,
                  method_kwargs={"steps": 5}, progress=False, device="cpu")
    script = textwrap.dedent(
        f"""
        import sys, torch
        torch.set_num_threads(1)
        from csr.train import TrainConfig, train
        train(TrainConfig(**{kwargs!r}), runs_root=sys.argv[1])
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([sys.executable, "-c", script, str(killed_root)], env=env)
    deadline = time.time() + 120
    ckpts = []
    while time.time() < deadline and proc.poll() is None:
        ckpts = list(killed_root.glob("*/checkpoint.pt"))
        if ckpts:
            break
        time.sleep(0.05)
    assert ckpts and proc.poll() is None, "training finished before it could be killed; make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = ckpts[0].parent
    assert not (run_dir / "done.json").exists()
    done_epochs = len(pd.read_csv(run_dir / "metrics.csv"))
    assert 1 <= done_epochs < 3
    for root in (killed_root, clean_root):  # resume the killed run; run the clean one
        subprocess.run([sys.executable, "-c", script, str(root)], env=env, check=True)
    hk = pd.read_csv(run_dir / "metrics.csv").drop(columns="time_s")
    hc = pd.read_csv(next(clean_root.glob("*/metrics.csv"))).drop(columns="time_s")
    pd.testing.assert_frame_equal(hk, hc)
    wk = torch.load(run_dir / "best.pt", weights_only=True)
    wc = torch.load(next(clean_root.glob("*/best.pt")), weights_only=True)
    assert all(torch.equal(wk[k], wc[k]) for k in wk)


def test_model_selection_under_error_threshold(tmp_path, digits):
    cfg = small_cfg(epochs=4, select_metric="val_loss", select_mode="max", select_max_val_err=0.99)
    r = train(cfg, splits=digits, runs_root=tmp_path)
    eligible = r.history[1 - r.history["val_acc"] <= 0.99]
    assert r.best_epoch == int(eligible.loc[eligible["val_loss"].idxmax(), "epoch"])
    best = torch.load(r.run_dir / "best.pt", weights_only=True)
    assert all(torch.equal(best[k], v) for k, v in r.model.state_dict().items())


def test_pgd_training_buys_robustness(tmp_path, digits):
    common = dict(epochs=8, n_train=None, model_kwargs={"hidden": [64]}, lr=3e-3)
    std = train(small_cfg(**common), splits=digits, runs_root=tmp_path)
    adv = train(small_cfg(method="pgd_at", eps=0.2, method_kwargs={"steps": 7}, **common),
                splits=digits, runs_root=tmp_path)
    x, y = digits.test.tensors
    torch.manual_seed(0)
    r_std = robust_accuracy(PGD(std.model, eps=0.2, steps=20), x, y)
    torch.manual_seed(0)
    r_adv = robust_accuracy(PGD(adv.model, eps=0.2, steps=20), x, y)
    assert r_adv > r_std + 0.2, (r_std, r_adv)


def test_cs_ce_lowers_sensitive_errors(tmp_path, digits):
    C = costs.single_seed(10, 3)
    common = dict(epochs=6, n_train=None, cost_matrix="single_seed:3")
    std = train(small_cfg(**common), splits=digits, runs_root=tmp_path)
    cs = train(small_cfg(method="cs_ce", method_kwargs={"alpha": 5.0}, **common), splits=digits, runs_root=tmp_path)
    x, y = digits.test.tensors
    from csr.metrics import misclassification_cost

    with torch.no_grad():
        c_std = misclassification_cost(std.model(x).argmax(1), y, C.values)
        c_cs = misclassification_cost(cs.model(x).argmax(1), y, C.values)
    assert c_cs <= c_std
    assert cs.cost == C


# --- bad configs: one clear error, nothing written --------------------------------------------
@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(method="nope"), "unknown method 'nope'; known methods: .*cs_ce.*pgd_at.*standard"),
        (dict(model="nope"), "unknown model 'nope'"),
        (dict(dataset="nope"), "unknown dataset 'nope'"),
        (dict(method="cs_ce"), "needs a cost_matrix"),
        (dict(method="pgd_at"), "set eps > 0"),
        (dict(method="cs_ce", cost_matrix="odd", method_kwargs={"beta": 1}), "no parameter"),
        (dict(method="cs_ce", cost_matrix="odd", method_kwargs={"alpha": "big"}), "must be a number"),
        (dict(epochs=0), "epochs must be an integer >= 1"),
        (dict(epochs=2.5), "epochs must be an integer >= 1"),
        (dict(eps=-0.1), "eps must be a number >= 0"),
        (dict(optimizer="rmsprop"), "unknown optimizer"),
        (dict(lr_schedule="exp"), "unknown lr_schedule"),
        (dict(cost_matrix=[[0, 1], [1, 0]]), "2×2 but the dataset has 10 classes"),
        (dict(cost_matrix=[[0, float("nan")], [1, 0]]), "non-finite"),
        (dict(threads=0), "threads must be an integer >= 1 or None"),
        (dict(threads=1.5), "threads must be an integer >= 1 or None"),
    ],
)
def test_bad_config_fails_before_writing(tmp_path, digits, kw, message):
    with pytest.raises(ValueError, match=message):
        train(small_cfg(**kw), splits=None if "dataset" in kw else digits, runs_root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_run_hash_ignores_fields_at_their_defaults():
    """Adding a config field with a default later must not move existing run directories."""
    a = TrainConfig(method="pgd_at", eps=0.1)
    # ... except the thread count, always hashed with its resolved value
    assert a.hashed_dict() == {"method": "pgd_at", "eps": 0.1, "threads": torch.get_num_threads()}
    assert TrainConfig(method="pgd_at", eps=0.1, val_certify=None).run_name() == a.run_name()
    assert TrainConfig(method="pgd_at", eps=0.1, epochs=11).run_name() != a.run_name()


def test_thread_count_enters_the_run_hash_and_config(tmp_path, digits):
    """CPU results depend on the thread count: runs at 1 and 2 threads are different runs, the
    resolved count is recorded, and the caller's thread count is restored."""
    before = torch.get_num_threads()
    assert TrainConfig().run_name() == TrainConfig(threads=before).run_name()  # None → the current count
    assert TrainConfig(threads=1).run_name() != TrainConfig(threads=2).run_name()
    runs = {t: train(small_cfg(epochs=1, threads=t), splits=digits, runs_root=tmp_path) for t in (1, 2)}
    assert torch.get_num_threads() == before
    assert runs[1].run_dir != runs[2].run_dir
    for t, r in runs.items():
        assert json.loads((r.run_dir / "config.json").read_text())["threads"] == t
        assert json.loads((r.run_dir / "env.json").read_text())["torch_threads"] == t
    # threads=None trains at (and records) the current count, in the same run as threads=<that count>
    auto = train(small_cfg(epochs=1), splits=digits, runs_root=tmp_path)
    assert json.loads((auto.run_dir / "config.json").read_text())["threads"] == before
    assert auto.run_dir == tmp_path / small_cfg(epochs=1, threads=before).run_name()
    # a failing run restores the thread count too
    with pytest.raises(ValueError):
        train(small_cfg(threads=1, cost_matrix=[[0, 1], [1, 0]]), splits=digits, runs_root=tmp_path / "bad")
    assert torch.get_num_threads() == before
