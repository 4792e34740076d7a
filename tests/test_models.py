"""Tests for csr.models: every model builds and runs, Normalize, certifiable layouts, errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from csr.models import (
    CERTIFIABLE_LAYERS,
    MODELS,
    SEQUENTIAL_MODELS,
    Normalize,
    build_model,
    count_parameters,
)



@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """Tiny models: one intra-op thread is faster and far steadier on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


ALL = ["mlp", "mnist_small", "lenet", "cifar_small", "cifar_large",
       "resnet20", "resnet56", "resnet18", "wrn"]

# (name, input_shape, kwargs) — small kwargs for speed
CASES = [
    ("mlp", (1, 28, 28), {}),
    ("mlp", (2,), {"hidden": (64, 64)}),
    ("mlp", (1, 8, 8), {"hidden": ()}),
    ("mnist_small", (1, 28, 28), {}),
    ("mnist_small", (1, 8, 8), {}),
    ("lenet", (1, 28, 28), {}),
    ("lenet", (1, 8, 8), {}),
    ("lenet", (3, 32, 32), {}),
    ("cifar_small", (3, 32, 32), {}),
    ("cifar_large", (3, 32, 32), {}),
    ("cifar_large", (1, 28, 28), {}),
    ("resnet20", (3, 32, 32), {}),
    ("resnet20", (1, 28, 28), {"shortcut": "B"}),
    ("resnet56", (3, 32, 32), {}),
    ("resnet18", (3, 32, 32), {}),
    ("wrn", (3, 32, 32), {"depth": 10, "width": 1}),
    ("wrn", (1, 8, 8), {"depth": 10, "width": 2, "dropout": 0.3}),
]


def test_registry_has_all():
    assert set(MODELS.names()) == set(ALL)
    assert {n for n, _, _ in CASES} == set(ALL)


@pytest.mark.parametrize("name,shape,kw", CASES, ids=[f"{c[0]}-{'x'.join(map(str, c[1]))}"
                                                      for c in CASES])
def test_builds_and_forwards(name, shape, kw):
    torch.manual_seed(0)
    m = build_model(name, input_shape=shape, num_classes=7, **kw)
    assert isinstance(m[0], Normalize)
    m.eval()
    x = torch.rand(2, *shape)
    with torch.no_grad():
        out = m(x)
    assert out.shape == (2, 7) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


# training-mode forward + backward (BatchNorm, dropout); deep nets on small inputs for speed
@pytest.mark.parametrize("name,shape,kw", [
    ("mlp", (2,), {}),
    ("mnist_small", (1, 28, 28), {}),
    ("lenet", (1, 8, 8), {}),
    ("cifar_small", (3, 16, 16), {}),
    ("cifar_large", (3, 16, 16), {}),
    ("resnet20", (3, 8, 8), {}),  # same ResNet/BasicBlock code as resnet56 / resnet18
    ("resnet20", (3, 8, 8), {"shortcut": "B"}),
    ("wrn", (3, 8, 8), {"depth": 10, "width": 1, "dropout": 0.2}),
])
def test_train_mode_backward(name, shape, kw):
    torch.manual_seed(0)
    m = build_model(name, input_shape=shape, num_classes=5, **kw).train()
    m(torch.rand(4, *shape)).sum().backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_identity_normalize_by_default():
    m = build_model("mlp", input_shape=(3, 4, 4), num_classes=2)
    assert m[0].mean.tolist() == [0.0, 0.0, 0.0] and m[0].std.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("name,shape", [("mnist_small", (3, 8, 8)), ("resnet20", (3, 8, 8)),
                                        ("mlp", (2,))])
def test_normalisation_is_applied(name, shape):
    c = shape[0]
    mean = tuple(0.1 * (i + 1) for i in range(c))
    std = tuple(0.2 + 0.1 * i for i in range(c))
    torch.manual_seed(0)
    m = build_model(name, input_shape=shape, num_classes=4, mean=mean, std=std).eval()
    x = torch.rand(5, *shape)
    view = (1, c) + (1,) * (len(shape) - 1)
    manual = (x - torch.tensor(mean).view(view)) / torch.tensor(std).view(view)
    with torch.no_grad():
        torch.testing.assert_close(m[0](x), manual)
        torch.testing.assert_close(m(x), m[1:](manual))
        # and it actually matters: identity stats give different logits
        assert not torch.allclose(m(x), m[1:](x))


def test_normalize_module():
    n = Normalize((0.5, 0.25), (0.5, 2.0))
    x = torch.ones(2, 2, 3, 3)
    y = n(x)
    assert torch.allclose(y[:, 0], torch.full((2, 3, 3), 1.0))
    assert torch.allclose(y[:, 1], torch.full((2, 3, 3), 0.375))
    # (N, d) inputs
    assert torch.allclose(n(torch.ones(4, 2)), torch.tensor([[1.0, 0.375]] * 4))
    # buffers: saved in state_dict, not parameters
    assert set(n.state_dict()) == {"mean", "std"} and not list(n.parameters())
    with pytest.raises(ValueError, match="positive"):
        Normalize((0.0,), (0.0,))
    with pytest.raises(ValueError, match="equal length"):
        Normalize((0.0, 1.0), (1.0,))


@pytest.mark.parametrize("name", SEQUENTIAL_MODELS)
def test_small_nets_are_plain_sequential(name):
    shape = (1, 28, 28) if name in ("mlp", "mnist_small") else (3, 32, 32)
    m = build_model(name, input_shape=shape, num_classes=10)
    assert type(m) is nn.Sequential
    assert isinstance(m[0], Normalize)
    for layer in m:
        assert type(layer) in CERTIFIABLE_LAYERS, type(layer)
    assert type(m[-1]) is nn.Linear and m[-1].out_features == 10


def test_mnist_small_layout_and_params():
    m = build_model("mnist_small", input_shape=(1, 28, 28), num_classes=10)
    kinds = [type(l).__name__ for l in m]
    assert kinds == ["Normalize", "Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten",
                     "Linear", "ReLU", "Linear"]
    c1, c2 = m[1], m[3]
    assert (c1.in_channels, c1.out_channels, c1.kernel_size, c1.stride, c1.padding) == \
        (1, 16, (4, 4), (2, 2), (1, 1))
    assert (c2.in_channels, c2.out_channels, c2.kernel_size, c2.stride, c2.padding) == \
        (16, 32, (4, 4), (2, 2), (1, 1))
    expected = (16 * 1 * 16 + 16) + (32 * 16 * 16 + 32) + (1568 * 100 + 100) + (100 * 10 + 10)
    assert count_parameters(m) == expected == 166406
    assert m[6].in_features == 32 * 7 * 7


def test_cifar_large_layout():
    m = build_model("cifar_large", input_shape=(3, 32, 32), num_classes=10)
    convs = [l for l in m if isinstance(l, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == \
        [(32, 3, 1, 1), (32, 4, 2, 1), (64, 3, 1, 1), (64, 4, 2, 1)]
    lins = [l for l in m if isinstance(l, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in lins] == \
        [(64 * 8 * 8, 512), (512, 512), (512, 10)]


def test_lenet_classic_sizes():
    m = build_model("lenet", input_shape=(1, 28, 28), num_classes=10)
    lins = [l for l in m if isinstance(l, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in lins] == [(400, 120), (120, 84), (84, 10)]
    # 28x28 LeNet-5: 156 + 2416 + 48120 + 10164 + 850
    assert count_parameters(m) == 61706


def test_param_counts_of_resnets():
    r20 = count_parameters(build_model("resnet20", input_shape=(3, 32, 32), num_classes=10))
    assert 0.26e6 < r20 < 0.28e6  # He et al.: 0.27M
    assert r20 == 269722
    r56 = count_parameters(build_model("resnet56", input_shape=(3, 32, 32), num_classes=10))
    assert 0.84e6 < r56 < 0.87e6  # 0.85M
    r18 = count_parameters(build_model("resnet18", input_shape=(3, 32, 32), num_classes=10))
    assert 11.1e6 < r18 < 11.2e6


def test_imagenet_stem_resnets_match_torchvision_and_cs_rs():
    import torchvision

    # ResNet-18 with the ImageNet stem: torchvision's architecture, parameter for parameter
    ours = build_model("resnet18", input_shape=(3, 160, 160), num_classes=10, stem="imagenet")
    ref = torchvision.models.resnet18(num_classes=10)
    assert count_parameters(ours) == sum(p.numel() for p in ref.parameters())
    conv_shapes = lambda m: [tuple(c.weight.shape) for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    assert sorted(conv_shapes(ours)) == sorted(conv_shapes(ref))
    assert ours(torch.rand(2, 3, 160, 160)).shape == (2, 10)
    # the CS-RS code's HAM10k network: 7x7/2 stem + max-pool, 64/128/256 x 9 blocks, 1x1 shortcuts
    ham = build_model("resnet56", input_shape=(3, 64, 64), num_classes=2, stem="imagenet",
                      widths=[64, 128, 256], shortcut="B")
    block = lambda cin, c: 9 * c * c * 2 + 2 * 2 * c + (cin * c * 9 - c * c * 9)  # 2 convs + 2 BNs per block
    convs = 3 * 64 * 49 + 2 * 64  # stem conv + BN
    for cin, c in ((64, 64), (64, 128), (128, 256)):
        convs += block(cin, c) + (8 * (9 * c * c * 2 + 4 * c))
        if cin != c:
            convs += cin * c + 2 * c  # 1x1 projection + BN
    assert count_parameters(ham) == convs + 256 * 2 + 2
    assert ham(torch.rand(2, 3, 64, 64)).shape == (2, 2)


def test_wrn_28_10_param_count():
    m = build_model("wrn", input_shape=(3, 32, 32), num_classes=10)  # default 28/10
    assert 36.4e6 < count_parameters(m) < 36.6e6  # WRN-28-10: 36.5M


def test_count_parameters_trainable_only():
    m = build_model("mlp", input_shape=(4,), num_classes=2, hidden=(3,))
    assert count_parameters(m) == 4 * 3 + 3 + 3 * 2 + 2
    for p in m[2].parameters():  # first Linear (after Normalize, Flatten)
        p.requires_grad_(False)
    assert count_parameters(m) == 3 * 2 + 2
    assert count_parameters(m, trainable_only=False) == 4 * 3 + 3 + 3 * 2 + 2


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kw,match", [
    ({"depth": 11}, r"\(depth - 4\) % 6"),
    ({"depth": 4}, "depth"),
    ({"width": 0}, "width"),
    ({"dropout": 1.5}, "dropout"),
    ({"widen": 2}, "unknown option.*'widen'.*depth, width, dropout"),
])
def test_wrn_bad_kwargs(kw, match):
    with pytest.raises(ValueError, match=match):
        build_model("wrn", input_shape=(3, 32, 32), num_classes=10, **kw)


@pytest.mark.parametrize("name,kw,match", [
    ("mnist_small", {"hidden": (10,)}, "unknown option.*'hidden'.*none"),
    ("mlp", {"hidden": 5}, "hidden"),
    ("mlp", {"hidden": (0, 4)}, "hidden"),
    ("mlp", {"depth": 3}, "unknown option.*'depth'"),
    ("resnet20", {"shortcut": "C"}, "shortcut"),
    ("resnet18", {"stem": "tiny"}, "stem must be 'cifar' or 'imagenet'"),
    ("resnet56", {"widths": [16, 32]}, "widths must be 3 positive integers"),
])
def test_bad_kwargs(name, kw, match):
    with pytest.raises(ValueError, match=match):
        build_model(name, input_shape=(1, 28, 28), num_classes=10, **kw)


def test_unknown_model_lists_known():
    with pytest.raises(ValueError) as e:
        build_model("vgg16", input_shape=(3, 32, 32), num_classes=10)
    msg = str(e.value)
    assert "unknown model 'vgg16'" in msg and all(n in msg for n in ALL)


@pytest.mark.parametrize("kwargs,match", [
    ({"input_shape": (2,), "num_classes": 3, "name": "mnist_small"}, r"\(C, H, W\)"),
    ({"input_shape": (1, 28), "num_classes": 3, "name": "mlp"}, "input_shape"),
    ({"input_shape": (1, 2, 2), "num_classes": 3, "name": "cifar_large"}, "too small"),
    ({"input_shape": (1, 28, 28), "num_classes": 1, "name": "mlp"}, "num_classes"),
    ({"input_shape": (3, 32, 32), "num_classes": 10, "name": "mlp", "mean": (0.1, 0.2),
      "std": (1.0, 1.0)}, "mean"),
    ({"input_shape": (3, 32, 32), "num_classes": 10, "name": "mlp", "mean": (0.1,)}, "both"),
    ({"input_shape": (1, 28, 28), "num_classes": 10, "name": "mlp", "mean": (0.1,),
      "std": (0.0,)}, "positive"),
])
def test_bad_arguments(kwargs, match):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        build_model(name, **kwargs)


def test_state_dict_roundtrip_keeps_normalisation():
    a = build_model("mnist_small", input_shape=(1, 8, 8), num_classes=10,
                    mean=(0.3,), std=(0.2,))
    b = build_model("mnist_small", input_shape=(1, 8, 8), num_classes=10)
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(a(x), b(x))
