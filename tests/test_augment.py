"""Training-batch augmentation against oracles: every crop_flip output is a window of the
zero-padded input (brute force over all offsets), resized_crop_flip's boxes and pixels are
torchvision's for the same random stream, and the trainer's augmented runs are reproducible."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from csr.augment import AUGMENTATIONS, _resized_crop_box, augment_batch, crop_flip, resized_crop_flip


def _windows(img: torch.Tensor, pad: int) -> list[torch.Tensor]:
    c, h, w = img.shape
    p = F.pad(img, (pad, pad, pad, pad))
    out = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            win = p[:, dy:dy + h, dx:dx + w]
            out += [win, win.flip(-1)]
    return out


def test_registered_names_and_unknown():
    assert AUGMENTATIONS.names() == ["crop_flip", "flip", "resized_crop_flip"]
    with pytest.raises(ValueError, match="known augmentations: crop_flip, flip, resized_crop_flip"):
        AUGMENTATIONS.get("cutout")


def test_crop_flip_outputs_are_windows_of_the_padded_input():
    x = torch.rand(16, 3, 8, 8)
    out = crop_flip(x, torch.Generator().manual_seed(3), padding=2)
    assert out.shape == x.shape
    for i in range(len(x)):
        assert any(torch.equal(out[i], w) for w in _windows(x[i], 2)), i


def test_crop_flip_covers_all_offsets_and_flips_half():
    # a single bright pixel in the middle: its position after the crop reveals the offset
    x = torch.zeros(4000, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0
    out = crop_flip(x, torch.Generator().manual_seed(0), padding=4)
    pos = out.view(len(x), -1).argmax(1)
    assert torch.unique(pos).numel() == 81  # every (dy, dx) in {0..8}² was drawn
    # flips: on an asymmetric image, half the outputs are mirrored
    a = torch.zeros(4000, 1, 4, 4)
    a[:, 0, :, 0] = 1.0
    fl = AUGMENTATIONS.get("flip")(a, torch.Generator().manual_seed(1))
    share = fl[:, 0, 0, -1].mean().item()
    assert 0.46 < share < 0.54


def test_same_seed_same_batch_other_seed_differs():
    x = torch.rand(8, 3, 16, 16)
    for name in AUGMENTATIONS.names():
        a, b, c = augment_batch(name, x, 5), augment_batch(name, x, 5), augment_batch(name, x, 6)
        assert torch.equal(a, b) and not torch.equal(a, c), name
    assert augment_batch(None, x, 0) is x


def test_resized_crop_boxes_are_torchvision_boxes():
    from torchvision.transforms import RandomResizedCrop

    for seed in range(200):
        torch.manual_seed(seed)
        ref = RandomResizedCrop.get_params(torch.zeros(3, 40, 30), scale=[0.35, 1.0], ratio=[3 / 4, 4 / 3])
        ours = _resized_crop_box(40, 30, torch.Generator().manual_seed(seed), (0.35, 1.0), (3 / 4, 4 / 3))
        assert tuple(ref) == ours, seed


def test_resized_crop_pixels_match_torchvision():
    import torchvision.transforms.functional as TF

    x = torch.rand(1, 3, 24, 24)
    gen = torch.Generator().manual_seed(11)
    box = _resized_crop_box(24, 24, torch.Generator().manual_seed(11), (0.35, 1.0), (3 / 4, 4 / 3))
    out = resized_crop_flip(x, gen)
    ref = TF.resized_crop(x[0], *box, size=[24, 24], antialias=False).clamp(0, 1)
    assert torch.allclose(out[0], ref, atol=1e-6) or torch.allclose(out[0], ref.flip(-1), atol=1e-6)


def test_flat_batches_are_refused():
    with pytest.raises(ValueError, match=r"needs an image batch \(N, C, H, W\)"):
        crop_flip(torch.rand(4, 10), torch.Generator())


def test_trainer_augment_field(tmp_path):
    from csr.train import TrainConfig, train

    with pytest.raises(ValueError, match="unknown augmentation 'jitter'"):
        TrainConfig(augment="jitter").validate()
    # digits are 8x8 images: augmented training is reproducible and differs from plain training
    kw = dict(dataset="digits", model="mlp", epochs=1, n_train=200, progress=False, threads=1)
    a = train(TrainConfig(augment="crop_flip", **kw), runs_root=tmp_path / "a")
    b = train(TrainConfig(augment="crop_flip", **kw), runs_root=tmp_path / "b")
    c = train(TrainConfig(**kw), runs_root=tmp_path / "c")
    sa, sb, sc = (r.model.state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.run_dir.name != c.run_dir.name  # the augmentation is part of the run's key
