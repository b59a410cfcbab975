"""DLCR stage 3 (SCHP network and checkpoint format, SegFormer), and the ccvid_aug scripts:
crop k variants, rearrange into training sequences, partition, augmented share in batches."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import make_synthetic_ccvid, run_script
from gaitcore.pretreated_io import list_sequences, read_partition
from gaitcore.jsonl_records import read_records
from dlcr.schp.clothes_parsing import input_affine
from dlcr.schp.label_sets import clothes_label_ids
from dlcr.schp.schp_network import ABN, load_schp_checkpoint
from opengait.data.samplers import TripletSampler
from dlcr.tiny_models import save_random_schp, save_tiny_sd_inpaint, save_tiny_segformer

STAGE3 = "dlcr/schp/parse_clothes.py"


def test_abn_uses_abs_weight_plus_eps_like_inplace_abn():
    bn = ABN(3, activation="leaky_relu").eval()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([-2.0, 0.5, -0.1]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        bn.running_mean.copy_(torch.tensor([1.0, -1.0, 0.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    x = torch.randn(2, 3, 4, 4)
    w = torch.tensor([2.0, 0.5, 0.1]) + 1e-5                      # |w| + eps, by hand
    by_hand = (x - bn.running_mean.view(1, 3, 1, 1)) / torch.sqrt(bn.running_var.view(1, 3, 1, 1) + 1e-5)
    by_hand = by_hand * w.view(1, 3, 1, 1) + bn.bias.view(1, 3, 1, 1)
    torch.testing.assert_close(bn(x), F.leaky_relu(by_hand, 0.01))
    plain = ABN(3, activation="none").eval()
    plain.load_state_dict(bn.state_dict())
    torch.testing.assert_close(plain(x), by_hand)


def test_official_checkpoint_layout_loads(tmp_path):
    path = save_random_schp(tmp_path / "schp-lip.pth")
    state = torch.load(path, weights_only=True)["state_dict"]
    assert all(k.startswith("module.") for k in state) and "module.fushion.3.weight" in state
    assert "module.context_encoding.stages.3.1.weight" in state and "module.edge.conv5.weight" in state
    model = load_schp_checkpoint(path, 20)
    assert sum(p.numel() for p in model.parameters()) == 66_723_928       # ResNet-101 SCHP
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 20, 16, 16)
    with pytest.raises(ValueError, match="20-label checkpoint"):
        load_schp_checkpoint(path, 18)


def test_input_affine_keeps_aspect_and_centres():
    m = input_affine(101, 201, (473, 473))                         # tall image into a square
    corners = np.array([[0, 0, 1], [100, 200, 1]], np.float32) @ m.T
    assert np.allclose(corners[:, 1], [0, 473], atol=1e-3)         # height fills the input
    assert np.isclose(corners[:, 0].mean(), 236.5, atol=1e-3)      # centred horizontally
    assert np.isclose((corners[1, 0] - corners[0, 0]) / (corners[1, 1] - corners[0, 1]), 0.5, atol=1e-6)


def test_label_table():
    assert clothes_label_ids("lip", "upper") == [5, 6, 7, 10, 11]
    assert clothes_label_ids("lip", "lower") == [6, 9, 10, 12]
    # DLCR's full mask: everything but background, hat, hair, face, arms and legs (LIP ids:
    # 0 background, 1 hat, 2 hair, 13 face, 14/15 arms, 16/17 legs are kept).
    assert clothes_label_ids("lip", "full") == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18, 19]
    assert clothes_label_ids("atr", "full") == [3, 4, 5, 6, 7, 8, 9, 10, 16, 17]
    assert clothes_label_ids("pascal", "lower") == [5, 6]


@pytest.fixture(scope="module")
def ccvid(tmp_path_factory) -> Path:
    return make_synthetic_ccvid(tmp_path_factory.mktemp("aug") / "ccvid", frames=10)


@pytest.mark.slow
@pytest.mark.parametrize("parser", ["schp", "segformer"])
def test_stage3_writes_binary_masks_and_resumes(ccvid, tmp_path, parser):
    if parser == "schp":
        ckpt = save_random_schp(tmp_path / "schp.pth")
        extra = ["--dataset", "lip", "--input-size", "64", "64"]
    else:
        ckpt, extra = save_tiny_segformer(tmp_path / "segformer"), []
    out = tmp_path / "masks"
    args = ["--src", ccvid, "--out", out, "--parser", parser, "--ckpt", ckpt, "--batch-size", "4",
            "--mask-dilation", "0", *extra]
    run_script(STAGE3, *args, "--limit", "5")
    result = run_script(STAGE3, *args)
    records = read_records(out / "masks.jsonl")
    frames = len(list(ccvid.glob("session*/*/*.jpg")))
    train = {l.split("\t")[0] for l in (ccvid / "train.txt").read_text().splitlines()}
    expected = sorted(str(p.relative_to(ccvid)) for t in train for p in (ccvid / t).glob("*.jpg"))
    assert sorted(records) == expected and frames > len(expected)
    assert f"{len(expected) - 5} written" in result.stdout and "5 already done" in result.stdout
    for key, rec in list(records.items())[:6]:
        mask = cv2.imread(str(out / rec["mask"]), cv2.IMREAD_GRAYSCALE)
        image = cv2.imread(str(ccvid / key))
        assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
        assert rec["part"] == "full" and 0.0 <= rec["clothes_fraction"] <= 1.0


@pytest.mark.slow
def test_stage3_missing_checkpoint_is_a_clear_error(ccvid, tmp_path):
    result = run_script(STAGE3, "--src", ccvid, "--out", tmp_path / "m", "--ckpt", tmp_path / "none.pth",
                        check=False)
    assert result.returncode == 2 and "none.pth: SCHP checkpoint not found" in result.stderr


@pytest.mark.slow
def test_ccvid_aug_sequences_go_to_training_only(ccvid, tmp_path):
    work, masks = tmp_path / "work", tmp_path / "masks"
    run_script("datasets_preprocess/ccvid/rename_ids.py", "--src", ccvid, "--out", work)
    run_script("datasets_preprocess/ccvid/rearrange_to_grew.py", "--src", ccvid, "--out", work,
               "--sils-from", ccvid / "masks", "--pose-from", ccvid / "poses")
    run_script("datasets_preprocess/ccvid/make_probe_gallery.py", "--out", work)
    for mask_file in (ccvid / "masks").rglob("*.png"):          # clothes masks: lower half of the body
        mask = cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE)
        mask[: mask.shape[0] // 2] = 0
        target = masks / mask_file.relative_to(ccvid / "masks")
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), mask)
    outfits = sorted({f"{l.split(chr(9))[1]}_{l.split(chr(9))[2]}" for l in (ccvid / "train.txt").read_text().splitlines()})
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"outfit": o, "pid": o.split("_")[0], "items": [], "prompt": f"outfit {o}"}) + "\n"
                               for o in outfits))
    sd = save_tiny_sd_inpaint(tmp_path / "sd")
    inpainted = tmp_path / "inpainted"
    run_script("dlcr/sd_inpaint/inpaint_clothes.py", "--src", ccvid, "--masks", masks, "--prompts", prompts,
               "--out", inpainted, "--ckpt", sd, "--n", "3", "--fraction", "0.5", "--steps", "1",
               "--size", "64", "32", "--batch-size", "4")
    aug = tmp_path / "ccvid_aug"
    result = run_script("datasets_preprocess/ccvid_aug/crop_augmented_k5.py", "--inpainted", inpainted,
                        "--out", aug, "--k", "2")
    assert "variants beyond k=2 left out" in result.stdout
    index = (aug / "augmented_index.csv").read_text().splitlines()[1:]
    assert len(index) == 2 * len({r.split(",")[1] for r in index})         # k=2 per source tracklet
    run_script("datasets_preprocess/ccvid_aug/rearrange_to_grew.py", "--aug", aug, "--work", work,
               "--segmenter", "grabcut", "--pose-from", ccvid / "poses")
    run_script("datasets_preprocess/ccvid_aug/make_probe_gallery.py", "--aug", aug, "--work", work)
    part = read_partition(work / "ccvid_aug.json")
    augmented = part["AUGMENTED_SET"]
    assert augmented and all(k.split("/")[1].startswith("aug") for k in augmented)
    assert {k.split("/")[0] for k in augmented} <= set(part["TRAIN_SET"])
    assert not set(augmented) & (set(part["PROBE_SET"]) | set(part["GALLERY_SET"]))
    on_disk = {r.key for r in list_sequences(work / "pretreated")}
    assert set(augmented) <= on_disk
    info = part["SEQUENCE_INFO"][augmented[0]]
    assert info["augmented"] and info["source"] in on_disk and info["target_pid"] != augmented[0].split("/")[0]


def test_augmented_share_of_each_identity_in_a_batch():
    groups = {0: [0, 1, 2, 3], 1: [4, 5, 6], 2: [7, 8]}
    augmented = {2, 3, 6}
    cfg = {"sample_type": "fixed_ordered", "frames_num_fixed": 4, "augmented_share": 0.5}
    sampler = TripletSampler(groups, [3, 4], cfg, augmented=augmented)
    for it in range(20):
        batch = [r.index for r in sampler.batch(it)]
        for chunk in (batch[i:i + 4] for i in range(0, 12, 4)):
            label = next(l for l, g in groups.items() if chunk[0] in g)
            n_aug = sum(i in augmented for i in chunk)
            assert n_aug == (2 if label in (0, 1) else 0)                  # id 2 has none: all real
    plain = TripletSampler(groups, [3, 4], {**cfg, "augmented_share": None}, augmented=augmented)
    assert any(sum(i in augmented for i in [r.index for r in plain.batch(it)]) not in (0, 4) for it in range(20))


def test_augmented_share_is_exact_in_expectation():
    """K = 3 and share 0.25: 0.75 augmented sequences per id on average (not round(0.75) = 1)."""
    groups = {0: [0, 1, 2, 3], 1: [4, 5, 6, 7]}
    augmented = {2, 3, 6, 7}
    cfg = {"sample_type": "fixed_ordered", "frames_num_fixed": 4, "augmented_share": 0.25}
    sampler = TripletSampler(groups, [2, 3], cfg, augmented=augmented)
    counts = [sum(r.index in augmented for r in sampler.batch(it)) for it in range(2000)]
    per_id = np.mean(counts) / 2
    assert abs(per_id - 0.75) < 0.03 and set(counts) <= {0, 1, 2}
