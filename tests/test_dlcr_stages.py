"""DLCR stages 1, 2 and 4 with tiny local models on synthetic CCVID images: record formats,
resume after an interrupted run, shard union, the prompt parser, paste-back exactness."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import make_synthetic_ccvid, run_script
from gaitcore.jsonl_records import read_records
from dlcr.common.stage_runner import LazyModel
from dlcr.llama.garment_prompts import parse_garment_reply
from dlcr.sd_inpaint.clothes_inpainting import paste_back, plan_variants
from dlcr.tiny_models import save_tiny_llama, save_tiny_llava, save_tiny_sd_inpaint

STAGE1 = "dlcr/llava/extract_clothes_descriptions.py"
STAGE2 = "dlcr/llama/summarize_clothes_descriptions.py"
STAGE4 = "dlcr/sd_inpaint/inpaint_clothes.py"


@pytest.fixture(scope="module")
def ccvid(tmp_path_factory) -> Path:
    return make_synthetic_ccvid(tmp_path_factory.mktemp("dlcr") / "ccvid", frames=4)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("tiny_models")
    return {"llava": save_tiny_llava(base / "llava"), "llama": save_tiny_llama(base / "llama"),
            "sd": save_tiny_sd_inpaint(base / "sd")}


def outfits_of(raw: Path) -> set[str]:
    return {f"{parts[1]}_{parts[2]}" for parts in
            (line.split("\t") for line in (raw / "train.txt").read_text().splitlines())}


@pytest.mark.slow
def test_stage1_records_resume_and_shards(ccvid, models, tmp_path):
    out = tmp_path / "desc.jsonl"
    first = run_script(STAGE1, "--src", ccvid, "--out", out, "--ckpt", models["llava"], "--limit", "2",
                       "--max-new-tokens", "4")
    assert "2 written" in first.stdout
    run_script(STAGE1, "--src", ccvid, "--out", out, "--ckpt", models["llava"], "--max-new-tokens", "4")
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    keys = [r["key"] for r in lines]
    assert len(keys) == len(set(keys)) == len(outfits_of(ccvid))          # one per outfit, once
    assert {r["outfit"] for r in lines} == outfits_of(ccvid)
    for r in lines:
        assert set(r) >= {"key", "pid", "outfit", "text", "model"} and (ccvid / r["key"]).exists()
        assert r["outfit"].startswith(r["pid"] + "_") and r["model"] == models["llava"]
    assert not Path(f"{out}.parts").exists()                              # folded into the output
    # Two shards written separately cover the same items exactly once between them.
    shard_out = tmp_path / "sharded.jsonl"
    for i in (0, 1):
        run_script(STAGE1, "--src", ccvid, "--out", shard_out, "--ckpt", models["llava"],
                   "--shard", f"{i}/2", "--max-new-tokens", "4")
    parts = sorted(Path(f"{shard_out}.parts").glob("*.jsonl"))
    assert len(parts) == 2
    shard_keys = [json.loads(l)["key"] for p in parts for l in p.read_text().splitlines()]
    assert sorted(shard_keys) == sorted(keys)
    assert set(read_records(shard_out)) == set(keys)


@pytest.mark.slow
def test_stage1_unreadable_image_is_skipped_and_counted(ccvid, models, tmp_path):
    broken = tmp_path / "ccvid"
    import shutil
    shutil.copytree(ccvid, broken)
    victim = sorted(broken.glob("session1/001_01/*.jpg"))[0]
    victim.write_bytes(victim.read_bytes()[:50])
    result = run_script(STAGE1, "--src", broken, "--out", tmp_path / "d.jsonl", "--ckpt", models["llava"],
                        "--frames-per-outfit", "0", "--max-new-tokens", "2")
    assert "unreadable images 1" in result.stdout
    missing = run_script(STAGE1, "--src", broken, "--out", tmp_path / "e.jsonl", "--ckpt",
                         str(tmp_path / "no_such_model"), check=False)
    assert missing.returncode == 2 and "no_such_model: LLaVA processor checkpoint not found" in missing.stderr


@pytest.mark.parametrize("reply, items, prompt", [
    ('Sure! {"items": ["red cotton shirt", "blue jeans"], "prompt": "a person wearing a red shirt"}',
     ["red cotton shirt", "blue jeans"], "a person wearing a red shirt"),
    ("```json\n{\"garments\": [\"black coat\"]}\n```", ["black coat"], "a person wearing black coat"),
    ("1. Upper body: white t-shirt\n2. Lower body: grey trousers\n3) black sneakers\nPrompt: a person in white and grey",
     ["white t-shirt", "grey trousers", "black sneakers"], "a person in white and grey"),
    ("Here you go:\n- green jacket\n* brown boots\n• red scarf",
     ["green jacket", "brown boots", "red scarf"], "a person wearing green jacket, brown boots, red scarf"),
])
def test_prompt_parser_handles_json_lists_and_bullets(reply, items, prompt):
    assert parse_garment_reply(reply) == (items, prompt)


def test_prompt_parser_refuses_garbage():
    assert parse_garment_reply("I cannot see the image clearly, sorry.") is None
    assert parse_garment_reply('{"unrelated": 3}') is None


@pytest.mark.slow
def test_stage2_unparsable_replies_are_kept_with_an_error(ccvid, models, tmp_path):
    desc = tmp_path / "desc.jsonl"
    run_script(STAGE1, "--src", ccvid, "--out", desc, "--ckpt", models["llava"], "--max-new-tokens", "4")
    out = tmp_path / "prompts.jsonl"
    result = run_script(STAGE2, "--src", desc, "--out", out, "--ckpt", models["llama"], "--max-new-tokens", "6")
    records = [json.loads(l) for l in out.read_text().splitlines()]
    assert {r["outfit"] for r in records} == outfits_of(ccvid)            # never dropped
    for r in records:
        assert set(r) >= {"outfit", "pid", "items", "prompt", "reply", "model"}
        # The record has the error exactly when its (final) reply cannot be read, and then no
        # garments; a readable one carries what the reply says.
        parsed = parse_garment_reply(r["reply"])
        assert ("error" in r) == (parsed is None), r
        assert (r["items"], r["prompt"]) == (parsed or ([], "")), r
    errors = sum("error" in r for r in records)
    assert errors >= 1                                   # random weights: noise replies, kept
    retried = int(re.search(r"retried (\d+)", result.stdout).group(1))
    assert retried >= errors                             # every errored outfit was asked twice
    assert f"({errors} with errors)" in result.stdout


def test_stage2_retries_an_unreadable_reply_once_then_records_the_error(tmp_path, monkeypatch, capsys):
    """Stage 2 with scripted replies: outfit A answers JSON at once; B answers nonsense, then
    a bullet list on the retry; C answers nonsense twice. A and B get their garments (B's reply
    is the retry's), C is kept with the error and no garments; two outfits were retried, each
    with the stricter request appended."""
    from dlcr.llama import garment_prompts
    from dlcr.llama import summarize_clothes_descriptions as stage2
    desc = tmp_path / "desc.jsonl"
    desc.write_text("".join(json.dumps(r) + "\n" for r in [
        {"key": "a.jpg", "pid": "001", "outfit": "001_u0", "text": "OUTFIT-A"},
        {"key": "b.jpg", "pid": "002", "outfit": "002_u0", "text": "OUTFIT-B"},
        {"key": "c.jpg", "pid": "003", "outfit": "003_u0", "text": "OUTFIT-C"},
        {"key": "d.jpg", "pid": "004", "outfit": "004_u0", "text": "", "error": "unreadable image"}]))
    calls = []

    class ScriptedLLM:
        def __init__(self, *args, **kwargs):
            pass

        def chat(self, messages, batch_size):
            calls.append(list(messages))
            replies = []
            for m in messages:
                retry = garment_prompts.RETRY_MESSAGE in m
                if "OUTFIT-A" in m:
                    replies.append('{"items": ["red shirt"], "prompt": "a person in a red shirt"}')
                elif "OUTFIT-B" in m:
                    replies.append("- blue coat\n- black boots" if retry else "I am not sure.")
                else:
                    replies.append("Still not sure." if retry else "I am not sure.")
            return replies
    monkeypatch.setattr(garment_prompts, "GarmentSummarizer", ScriptedLLM)
    out = tmp_path / "prompts.jsonl"
    stage2.main(stage2.parse_args(["--src", str(desc), "--out", str(out), "--ckpt", "scripted",
                                   "--device", "cpu", "--batch-size", "8"]))
    records = {r["outfit"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {"001_u0", "002_u0", "003_u0"}        # 004's only description failed
    a, b, c = records["001_u0"], records["002_u0"], records["003_u0"]
    assert (a["items"], a["prompt"], "error" in a) == (["red shirt"], "a person in a red shirt", False)
    assert (b["items"], b["prompt"], "error" in b) == (
        ["blue coat", "black boots"], "a person wearing blue coat, black boots", False)
    assert b["reply"] == "- blue coat\n- black boots"
    assert (c["items"], c["prompt"], c["error"], c["reply"]) == (
        [], "", "reply not parsable after one retry", "Still not sure.")
    assert [len(batch) for batch in calls] == [3, 2]              # one retry round, for B and C
    assert all(garment_prompts.RETRY_MESSAGE in m for m in calls[1])
    assert "OUTFIT-B" in calls[1][0] and "OUTFIT-C" in calls[1][1]
    printed = capsys.readouterr().out
    assert "3 written (1 with errors)" in printed and "retried 2" in printed


def make_masks(raw: Path, root: Path) -> None:
    """Stand-in clothes masks: the lower half of each exact person mask (stage 3 is tested elsewhere)."""
    for mask_file in sorted((raw / "masks").rglob("*.png")):
        rel = mask_file.relative_to(raw / "masks")
        mask = cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE)
        mask[: mask.shape[0] // 2] = 0
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), mask)


@pytest.mark.slow
def test_stage4_plan_paste_back_and_records(ccvid, models, tmp_path):
    masks = tmp_path / "masks"
    make_masks(ccvid, masks)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"outfit": o, "pid": o.split("_")[0], "items": ["red shirt"],
                                           "prompt": f"a person wearing red shirt {i}"}) + "\n"
                               for i, o in enumerate(sorted(outfits_of(ccvid)))))
    out = tmp_path / "inpainted"
    run_script(STAGE4, "--src", ccvid, "--masks", masks, "--prompts", prompts, "--out", out,
               "--ckpt", models["sd"], "--n", "2", "--fraction", "0.5", "--steps", "2", "--size", "64", "32",
               "--batch-size", "2")
    records = list(read_records(out / "inpaint.jsonl").values())
    tracklets = {r["tracklet"] for r in records}
    n_train = len((ccvid / "train.txt").read_text().splitlines())
    assert len(tracklets) == round(0.5 * n_train)
    by_variant = {}
    for r in records:
        assert r["target_pid"] != r["pid"]                                # never its own outfit
        assert set(r) >= {"key", "source", "variant", "target_outfit", "prompt", "seed", "output"}
        assert r["key"] == f"{r['source']}#aug{r['variant']:02d}"            # stage 4's names
        assert Path(r["output"]).parent.as_posix() == f"{r['tracklet']}_aug{r['variant']:02d}"
        by_variant.setdefault((r["tracklet"], r["variant"]), set()).add((r["prompt"], r["seed"]))
        original = cv2.imread(str(ccvid / r["source"]))
        result = cv2.imread(str(out / r["output"]))
        mask = cv2.imread(str(masks / Path(r["source"]).with_suffix(".png")), cv2.IMREAD_GRAYSCALE) > 127
        assert result.shape == original.shape
        assert np.array_equal(result[~mask], original[~mask])            # only masked pixels change
        assert not np.array_equal(result[mask], original[mask])
    assert all(len(v) == 1 for v in by_variant.values())                  # one prompt+seed per sequence
    assert Counter(v for _, v in by_variant) == Counter({0: len(tracklets), 1: len(tracklets)})
    # A prompts file with only failed stage-2 records stops with a message, writing nothing.
    failed = tmp_path / "failed.jsonl"
    failed.write_text(json.dumps({"outfit": "001_u0", "pid": "001", "items": [], "prompt": "",
                                  "error": "unparsable reply"}) + "\n")
    bad = run_script(STAGE4, "--src", ccvid, "--masks", masks, "--prompts", failed, "--out", tmp_path / "none",
                     "--ckpt", models["sd"], check=False)
    assert bad.returncode == 2 and "has a usable prompt" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "none").exists()


def test_plan_and_paste_back_units():
    prompts = {"001_u0": {"pid": "001", "prompt": "p1"}, "002_u0": {"pid": "002", "prompt": "p2"},
               "003_u0": {"pid": "003", "prompt": "", "error": "x"}}
    plans = plan_variants({"s/001_01": "001", "s/002_01": "002", "s/001_02": "001"}, prompts, 1.0, 3, 7)
    assert len(plans) == 9 and all(p.target_pid != {"s/001_01": "001", "s/002_01": "002",
                                                     "s/001_02": "001"}[p.tracklet] for p in plans)
    assert all(p.target_outfit != "003_u0" for p in plans)                # errored prompts unused
    assert plans == plan_variants({"s/001_01": "001", "s/002_01": "002", "s/001_02": "001"}, prompts, 1.0, 3, 7)
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 9, np.uint8)
    m = np.zeros((4, 4), np.uint8)
    m[1:3, 1:3] = 255
    out = paste_back(a, b, m)
    assert out[m > 0].min() == 9 and out[m == 0].max() == 0


@pytest.mark.slow
def test_stage1_under_two_launched_processes_writes_each_key_once(ccvid, models, tmp_path):
    """`torchrun`/`accelerate launch` with 2 processes: each takes its share, none lost or repeated."""
    import sys
    out = tmp_path / "desc.jsonl"
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    args = ["--src", ccvid, "--out", out, "--ckpt", models["llava"], "--max-new-tokens", "4"]
    run_script(STAGE1, *args, "--limit", "1", launcher=launch)          # one item per process
    assert len(read_records(out)) == 2
    run_script(STAGE1, *args, launcher=launch)                           # the rest, resumed
    keys = [json.loads(l)["key"] for l in out.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == len(outfits_of(ccvid))
    assert not Path(f"{out}.parts").exists()


STAGE3 = "dlcr/schp/parse_clothes.py"
REQUIRED_ARGS = {STAGE1: ["--src", "ccvid", "--out", "d.jsonl"], STAGE2: ["--src", "d.jsonl", "--out", "p.jsonl"],
                 STAGE3: ["--src", "ccvid", "--out", "masks"],
                 STAGE4: ["--src", "ccvid", "--masks", "m", "--prompts", "p.jsonl", "--out", "o"]}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(REQUIRED_ARGS))
def test_missing_config_is_a_one_line_error_naming_it(stage, tmp_path):
    config = tmp_path / "no_such_dlcr.yaml"
    args = [tmp_path / a if not a.startswith("--") else a for a in REQUIRED_ARGS[stage]]
    result = run_script(stage, *args, "--config", config, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {config}: DLCR config not found (--config)"]
    assert not any(tmp_path.iterdir())                                   # nothing was written


@pytest.mark.slow                                  # 12.6 s (--durations): five script runs
def test_broken_config_is_a_one_line_error_and_help_still_works(tmp_path):
    config = tmp_path / "dlcr.yaml"
    config.write_text("llama:\n  max_new_tokens: [1\n")
    result = run_script(STAGE2, "--src", tmp_path / "d.jsonl", "--out", tmp_path / "p.jsonl", "--config", config,
                        check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: {config}: DLCR config is not valid YAML (line 3")
    config.write_text("llama:\n  max_new_tokens: many\n")
    result = run_script(STAGE2, "--src", tmp_path / "d.jsonl", "--out", tmp_path / "p.jsonl", "--config", config,
                        check=False)
    assert result.returncode == 2 and result.stderr.strip() == (
        f"error: {config}: llama.max_new_tokens = 'many' is not usable "
        "(invalid literal for int() with base 10: 'many')")
    helped = run_script(STAGE2, "--help", "--config", tmp_path / "gone.yaml", env={"COLUMNS": "200"})
    assert "usage:" in helped.stdout and "gone.yaml: DLCR config not found" in helped.stdout
    shown = run_script(STAGE4, "--help", "--preset", "8gb", env={"COLUMNS": "200"}).stdout
    assert "(default 30, config)" in shown and "'sd_inpaint_8gb' block of" in shown    # the values shown


def test_lazy_model_loads_on_first_use_and_once():
    loads = []
    model = LazyModel(lambda: loads.append(1) or f"model {len(loads)}")
    assert loads == []                                                   # nothing loaded yet
    assert model() == model() == "model 1" and loads == [1]


@pytest.mark.parametrize("stage, bad, message", [
    (STAGE1, ["--shard", "2/2"], "--shard '2/2': need 0 <= I < N"),
    (STAGE1, ["--splits", "train,tets"], "--splits 'train,tets': unknown tets"),
    (STAGE1, ["--max-new-tokens", "0"], "--max-new-tokens 0: must be >= 1"),
    (STAGE2, ["--max-new-tokens", "0"], "--max-new-tokens 0: must be >= 1"),
    (STAGE3, ["--batch-size", "0"], "--batch-size 0: must be >= 1"),
    (STAGE4, ["--size", "60", "32"], "--size 60 32: height and width must be positive multiples of 8"),
    (STAGE4, ["--steps", "0"], "--steps 0: must be >= 1")])
@pytest.mark.slow
def test_bad_options_are_refused_before_any_work(stage, bad, message, tmp_path):
    args = [tmp_path / a if not a.startswith("--") else a for a in REQUIRED_ARGS[stage]]
    result = run_script(stage, *args, *bad, check=False)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())                                   # nothing was written


@pytest.mark.slow
@pytest.mark.fault_injection
def test_a_broken_jsonl_line_is_an_error_unless_it_is_a_cut_last_line(tmp_path):
    """Only the last line of a file without a final newline (a writer killed mid-line) may be
    broken: it is dropped and counted. A broken line anywhere else names file and line."""
    from collections import Counter
    from gaitcore.errors import RecordFileError
    good = [json.dumps({"key": f"k{i}", "text": "x"}) for i in range(3)]
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(good) + '\n{"key": "k3", "te')
    counts = Counter()
    assert sorted(read_records(cut, counts=counts)) == ["k0", "k1", "k2"] and counts["torn_last_lines"] == 1
    middle = tmp_path / "middle.jsonl"
    middle.write_text(good[0] + '\n{"key": "k1", "te\n' + good[2] + "\n")
    with pytest.raises(RecordFileError, match=r"middle.jsonl: line 2 is not a JSON record"):
        read_records(middle)
    closed = tmp_path / "closed.jsonl"                  # broken, but followed by a newline: not a kill
    closed.write_text("\n".join(good) + '\n{"key": "k3", "te\n')
    with pytest.raises(RecordFileError, match=r"closed.jsonl: line 4 is not a JSON record"):
        read_records(closed)
    # Stage 2 stops on it in one line, before loading any model.
    result = run_script(STAGE2, "--src", middle, "--out", tmp_path / "p.jsonl", "--ckpt", tmp_path / "no_model",
                        check=False)
    assert result.returncode == 2 and "middle.jsonl: line 2 is not a JSON record" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "p.jsonl").exists()
