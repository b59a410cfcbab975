"""Speed side by side with OpenGait's own code, on the same inputs: training steps and evaluation.

Run by ``bench_opengait_agreement.py --opengait <checkout> --speed`` (which adds its pretreatment
timings to the same report); each measurement runs here in a fresh process, one thread unless
told otherwise, so peak memory is that measurement's own (``VmHWM`` after a reset).

Training step: OpenGait's model class (built from the checkout by ``opengait_checkout.py``) and
ours, under the same random OpenGait checkpoint (loaded into ours through our checkpoint path),
on the same batch (P x K sequences of F frames of 64 x 44), the same loss (our LossAggregator
on each model's ``training_feat``: triplet + cross-entropy, identical for both) and SGD. Median
of the timed steps after warm-up steps; ours also compiled (``trainer_cfg.compile``: the
warm-up steps include compiling, whose time is reported apart). Peak memory: the resident-set
peak of the steps above the resident set before them. The FLOP fraction of our eager step is
``torch.utils.flop_counter``'s count per second against this machine's measured fp32 matrix
product rate on the same threads. On CUDA the same steps also run in fp16 (autocast).

Evaluation: OpenGait's ``evaluate_indoor_dataset`` (its ``cuda_dist`` run on the CPU tensors it
gets) and ours, on the same CASIA-B-sized features (50 ids x 10 types x 11 views, [256, 16]),
single-view and cross-view gallery; their rank-1 must agree (OpenGait rounds each view pair to
2 decimals; the comparison allows that rounding). Then OpenGait's ``evaluate_real_scene`` (GREW),
``evaluate_Gait3D`` and ``evaluate_CCPG`` against ours on features in those datasets' test
layouts (``other_layouts``): times, and every figure both report side by side.

    python benchmarks/opengait_speed.py --opengait ~/OpenGait --measure train --model GaitBase --impl ours
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN_MODELS = ("GaitBase", "SkeletonGait++", "DeepGaitV2")
# OpenGait's model label in opengait_checkout.MODEL_CASES.
CASES = {"GaitBase": "GaitBase (Baseline), CASIA-B", "SkeletonGait++": "SkeletonGait++, blocks [1,4,4,1], C 2",
         "DeepGaitV2": "DeepGaitV2 p3d [1,1,1,1], CASIA-B"}
LOSS_CFG = [{"loss_term_weight": 1.0, "margin": 0.2, "type": "TripletLoss", "log_prefix": "triplet"},
            {"loss_term_weight": 1.0, "scale": 16, "type": "CrossEntropyLoss", "log_prefix": "softmax",
             "log_accuracy": True}]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--opengait", required=True, help="an OpenGait checkout")
    p.add_argument("--measure", choices=("train", "eval", "matmul", "saved"), required=True,
                   help="what this process measures (saved: the activations autograd keeps in one "
                        "training forward pass, OpenGait's model and ours)")
    p.add_argument("--model", choices=TRAIN_MODELS, default="GaitBase", help="train: the model (default GaitBase)")
    p.add_argument("--impl", choices=("ours", "ours-compiled", "opengait"), default="ours",
                   help="train: whose model (default ours)")
    p.add_argument("--batch", default="2x2", help="train: P x K sequences (default 2x2)")
    p.add_argument("--frames", type=int, default=30, help="train: frames per sequence (default 30)")
    p.add_argument("--warmup", type=int, default=2, help="train: untimed steps first (default 2)")
    p.add_argument("--steps", type=int, default=5, help="train: timed steps (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--scratch", default=str(REPO / "output/bench/opengait_speed"),
                   help="folder of the shared checkpoints (default output/bench/opengait_speed)")
    return p.parse_args(argv)


def machine(threads: int) -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {threads} thread(s)"


# --- training steps -------------------------------------------------------------------------

def checkpoint_for(checkout: str, model: str, scratch: Path) -> tuple[Path, dict, str, str]:
    """A random OpenGait checkpoint of ``model`` (made once), its OpenGait config, OpenGait's
    class name and the input kind."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import torch
    from opengait_checkout import MODEL_CASES, OpenGaitCheckout, randomize
    label, og_name, og_cfg, _, kind = next(c for c in MODEL_CASES if c[0] == CASES[model])
    path = scratch / f"{og_name}_{kind.replace('+', '_')}.pt"
    if not path.exists():
        theirs = OpenGaitCheckout(checkout).build(og_name, og_cfg)
        randomize(theirs, torch.Generator().manual_seed(0))
        scratch.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"model": theirs.state_dict(), "optimizer": {}, "scheduler": {}, "iteration": 1}, tmp)
        os.replace(tmp, path)
    return path, og_cfg, og_name, kind


def batch_for(kind: str, p: int, k: int, frames: int):
    """(OpenGait's ipts[0], our inputs, labels) for P x K sequences."""
    import torch
    g = torch.Generator().manual_seed(1)
    n = p * k
    sils = (torch.rand(n, frames, 64, 44, generator=g) > 0.5).float()
    maps = torch.rand(n, frames, 2, 64, 44, generator=g)
    labels = torch.arange(p).repeat_interleave(k)
    if kind == "sil":
        return sils, {"1_sil": sils}, labels
    return torch.cat([maps, sils[:, :, None]], dim=2), {"0_heatmap": maps, "1_sil": sils}, labels


def measure_train(args: argparse.Namespace) -> dict:
    import torch
    from gaitcore.process_memory import peak_rss_bytes, reset_peak_rss, rss_bytes
    from opengait.modeling.losses import LossAggregator
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    path, og_cfg, og_name, kind = checkpoint_for(args.opengait, args.model, Path(args.scratch))
    p, k = (int(v) for v in args.batch.split("x"))
    x, inputs, labels = batch_for(kind, p, k, args.frames)
    if args.impl == "opengait":
        from opengait_checkout import OpenGaitCheckout, cpu_cuda_calls
        model = OpenGaitCheckout(args.opengait).build(og_name, og_cfg)
        model.load_state_dict(torch.load(path, weights_only=True)["model"])

        def forward(device):
            with cpu_cuda_calls():
                return model([[x.to(device)], labels.to(device), None, None, None])
    else:
        from opengait.engine.checkpoint import model_from_checkpoint
        model, _ = model_from_checkpoint({"model": og_name, **og_cfg}, path)
        net = torch.compile(model) if args.impl == "ours-compiled" else model

        def forward(device):
            return net({m: v.to(device) for m, v in inputs.items()}, None, None, labels.to(device))
    losses = LossAggregator(LOSS_CFG)
    model.train()

    def run(device: str, steps: int, autocast) -> list[float]:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            with autocast():
                loss, _ = losses(forward(device)["training_feat"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return times

    fp32 = lambda: torch.autocast("cpu", enabled=False)  # noqa: E731
    before = rss_bytes()                       # model, weights and batch in place, no step yet
    reset_peak_rss()
    start = time.perf_counter()
    warm = run("cpu", args.warmup, fp32)
    warmup_seconds = time.perf_counter() - start
    times = run("cpu", args.steps, fp32)
    row = {"model": args.model, "impl": args.impl, "batch": f"{p}x{k}x{args.frames}",
           "step_s": statistics.median(times), "step_s_min": min(times), "step_s_max": max(times),
           "first_step_s": warm[0] if warm else None, "warmup_s": warmup_seconds,
           "peak_step_bytes": max(0, peak_rss_bytes() - before), "threads": args.threads,
           "machine": machine(args.threads), "parameters": sum(q.numel() for q in model.parameters())}
    if args.impl == "ours":
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter:
            run("cpu", 1, fp32)
        row["flops_per_step"] = int(counter.get_total_flops())
    if torch.cuda.is_available():
        model.cuda()
        fp16 = lambda: torch.autocast("cuda", torch.float16)  # noqa: E731
        run("cuda", args.warmup, fp16)
        torch.cuda.reset_peak_memory_stats()
        cuda_times = run("cuda", args.steps, fp16)
        row["cuda_fp16_step_s"] = statistics.median(cuda_times)
        row["cuda_fp16_peak_bytes"] = torch.cuda.max_memory_allocated()
    return row


def measure_saved(args: argparse.Namespace) -> dict:
    """The tensors autograd saves for the backward pass in one training forward pass of
    OpenGait's model and ours (distinct storages, MiB): what the models themselves hold,
    apart from the allocator's behaviour that a resident-set peak also sees."""
    import torch
    from opengait.engine.checkpoint import model_from_checkpoint
    from opengait_checkout import OpenGaitCheckout, cpu_cuda_calls
    torch.set_num_threads(args.threads)
    path, og_cfg, og_name, kind = checkpoint_for(args.opengait, args.model, Path(args.scratch))
    p, k = (int(v) for v in args.batch.split("x"))
    x, inputs, labels = batch_for(kind, p, k, args.frames)
    theirs = OpenGaitCheckout(args.opengait).build(og_name, og_cfg)
    theirs.load_state_dict(torch.load(path, weights_only=True)["model"])
    ours, _ = model_from_checkpoint({"model": og_name, **og_cfg}, path)

    def saved(forward) -> tuple[float, int]:
        storages = {}

        def pack(t):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            forward()
        return sum(storages.values()) / 2 ** 20, len(storages)
    with cpu_cuda_calls():
        og_mib, og_n = saved(lambda: theirs([[x], labels, None, None, None]))
    our_mib, our_n = saved(lambda: ours(inputs, None, None, labels))
    return {"model": args.model, "batch": f"{p}x{k}x{args.frames}", "opengait_saved_mib": og_mib,
            "opengait_saved_tensors": og_n, "ours_saved_mib": our_mib, "ours_saved_tensors": our_n}


def measure_matmul(args: argparse.Namespace) -> dict:
    """This machine's fp32 matrix-product rate on ``threads`` threads (best of 10, 2048^3)."""
    import torch
    torch.set_num_threads(args.threads)
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return {"flops_per_s": 2 * n ** 3 / best, "threads": args.threads}


# --- evaluation -----------------------------------------------------------------------------

def casia_b_features(seed: int = 0):
    """CASIA-B's test set layout (ids 075-124, 10 types, 11 views) with [256, 16] features that
    give rank-1 well inside (0, 100): a weak identity part, a view part and noise that grows from
    NM to BG to CL."""
    import numpy as np
    rng = np.random.default_rng(seed)
    views = [f"{v:03d}" for v in range(0, 181, 18)]
    kinds = [f"nm-0{i}" for i in range(1, 7)] + ["bg-01", "bg-02", "cl-01", "cl-02"]
    rows = [(f"{s:03d}", t, v) for s in range(75, 125) for t in kinds for v in views]
    ids = np.array([int(r[0]) for r in rows])
    view_index = np.array([views.index(r[2]) for r in rows])
    centres = rng.normal(size=(125, 256, 16)).astype(np.float32)
    view_shift = rng.normal(size=(11, 256, 16)).astype(np.float32)
    spread = np.array([{"nm": 0.9, "bg": 1.0, "cl": 1.1}[r[1][:2]] for r in rows], np.float32)[:, None, None]
    feats = 0.2 * centres[ids] + 0.15 * view_shift[view_index] + spread * rng.normal(size=(len(rows), 256, 16))
    return feats.astype(np.float32), rows


def opengait_evaluator(checkout: str):
    """OpenGait's evaluation/evaluator.py with its ``utils`` (logging) stubbed and its
    ``.cuda()`` calls returning the CPU tensor."""
    import importlib
    import torch
    utils = types.ModuleType("utils")
    utils.is_tensor = torch.is_tensor
    utils.get_msg_mgr = lambda: types.SimpleNamespace(log_info=lambda *a, **k: None)
    utils.mkdir = lambda *a, **k: None
    sys.modules.setdefault("utils", utils)
    package = types.ModuleType("og_evaluation")
    package.__path__ = [str(Path(checkout) / "opengait" / "evaluation")]
    sys.modules["og_evaluation"] = package
    rerank = types.ModuleType("og_evaluation.re_rank")
    rerank.re_ranking = None
    sys.modules["og_evaluation.re_rank"] = rerank
    return importlib.import_module("og_evaluation.evaluator")


def measure_eval(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch
    from opengait.config import settings_from_dict
    from opengait.evaluation.evaluators import get_evaluator
    torch.set_num_threads(args.threads)
    feats, rows = casia_b_features()
    og = opengait_evaluator(args.opengait)
    dataset = types.SimpleNamespace(sequences=[types.SimpleNamespace(subject=s, type=t, view=v, key=f"{s}/{t}/{v}")
                                               for s, t, v in rows], partition={})
    data = {"embeddings": feats, "labels": [r[0] for r in rows], "types": [r[1] for r in rows],
            "views": [r[2] for r in rows]}
    ours = get_evaluator("evaluate_indoor_dataset")
    out = {"threads": args.threads, "machine": machine(args.threads), "features": list(feats.shape), "modes": {},
           "other_modes": {}}
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self              # OpenGait's cuda_dist on the CPU
    try:
        for mode, cross in (("CASIA-B single-view gallery", False), ("CASIA-B cross-view gallery", True)):
            cfg = settings_from_dict({"data_cfg": {"dataset_name": "CASIA-B"},
                                      "evaluator_cfg": {"eval_func": "evaluate_indoor_dataset", "metric": "euc",
                                                        "cross_view_gallery": cross}})
            timing = {"ours": [], "opengait": []}
            for _ in range(3):                            # alternately, best of three
                start = time.perf_counter()
                mine = ours(feats, dataset, cfg, None).metrics
                timing["ours"].append(time.perf_counter() - start)
                start = time.perf_counter()
                theirs = og.evaluate_indoor_dataset(data, "CASIA-B", "euc", cross)
                timing["opengait"].append(time.perf_counter() - start)
            agree = {}
            for cond in ("NM", "BG", "CL"):
                name = f"{cond}-Rank@1" if cross else cond
                key = f"scalar/test_accuracy/{cond}-Rank@1" if cross else f"scalar/test_accuracy/{cond}@R1"
                agree[cond] = [round(100 * mine[name], 4), round(float(theirs[key]), 4)]
            out["modes"][mode] = {"ours_s": min(timing["ours"]), "opengait_s": min(timing["opengait"]),
                                  "rank1_ours_opengait": agree,
                                  "max_rank1_difference": max(abs(a - b) for a, b in agree.values())}
        out["other_modes"] = measure_other_evals(og)
    finally:
        torch.Tensor.cuda = cuda
    return out


def layout_features(ids: list[str], seed: int = 0):
    """[256, 16] features for the given sequences: a weak identity part plus noise (rank-1 well
    inside (0, 100))."""
    import numpy as np
    rng = np.random.default_rng(seed)
    unique = {s: i for i, s in enumerate(dict.fromkeys(ids))}
    centres = rng.normal(size=(len(unique), 256, 16)).astype(np.float32)
    index = np.array([unique[s] for s in ids])
    return (0.25 * centres[index] + rng.normal(size=(len(ids), 256, 16))).astype(np.float32)


def other_layouts():
    """GREW's local test (6,000 ids; two gallery 01 and two probe 02 sequences each), Gait3D's
    layout (1,000 ids; one probe and five gallery sequences each) and CCPG's (100 ids, the 7 types
    of its four conditions, 10 cameras): (name, rows, partition, our evaluator, dataset name)."""
    grew = [(f"{s:05d}", t, f"{v:02d}") for s in range(6000) for t in ("01", "02") for v in range(2)]
    gait3d = [(f"{s:04d}", f"camid{c}", f"seq{c}") for s in range(1000) for c in range(6)]
    probe_set = [f"{s:04d}-camid0-seq0" for s in range(1000)]
    ccpg_types = ("U0_D0_BG", "U0_D0", "U3_D3", "U1_D0", "U1_D1", "U2_D2", "U0_D3")
    ccpg = [(f"{s:03d}", t, f"{v:02d}_{t[:2]}") for s in range(100) for t in ccpg_types for v in range(1, 11)]
    return [("GREW layout, 12,000 probes (02) vs 12,000 gallery (01), [256, 16] features", grew, {}, "evaluate_real_scene", "GREW"),
            ("Gait3D layout, 1,000 probes vs 5,000 gallery sequences", gait3d, {"PROBE_SET": probe_set}, "evaluate_Gait3D", "Gait3D"),
            ("CCPG layout, 100 ids x 7 types x 10 cameras", ccpg, {}, "evaluate_CCPG", "CCPG")]


def agreement_of(mode: str, mine: dict, theirs: dict) -> dict:
    """Our figure and OpenGait's for each metric both report (points)."""
    import numpy as np
    out = {}
    if mode.startswith("GREW"):
        for k in ("Rank-1", "Rank-5"):
            out[k] = [round(100 * mine[k], 4), round(float(theirs[f"scalar/test_accuracy/{k}"]), 4)]
    elif mode.startswith("Gait3D"):
        for k in ("Rank-1", "Rank-5", "Rank-10", "mAP", "mINP"):
            out[k] = [round(100 * mine[k], 4), round(float(theirs[f"scalar/test_accuracy/{k}"]), 4)]
    else:                                             # CCPG: rank-1 per condition, identical views excluded
        for cond in ("CL", "UP", "DN", "BG"):
            acc = np.asarray(theirs[f"scalar/test_accuracy/{cond}"], float)
            off_diagonal = (acc.sum(1) - np.diag(acc)) / (acc.shape[1] - 1)
            out[cond] = [round(100 * mine[cond], 4), round(float(off_diagonal.mean()), 4)]
    return out


def measure_other_evals(og) -> dict:
    """GREW, Gait3D and CCPG: ours and OpenGait's evaluator on the same features, alternately, best of 3."""
    import tempfile
    from opengait.config import settings_from_dict
    from opengait.evaluation.evaluators import get_evaluator
    out = {}
    for mode, rows, partition, name, dataset_name in other_layouts():
        ids, kinds, views = ([r[i] for r in rows] for i in range(3))
        feats = layout_features(ids)
        dataset = types.SimpleNamespace(sequences=[types.SimpleNamespace(subject=s, type=t, view=v, key=f"{s}/{t}/{v}")
                                                   for s, t, v in rows], partition=partition)
        cfg = settings_from_dict({"data_cfg": {"dataset_name": dataset_name},
                                  "evaluator_cfg": {"eval_func": name, "metric": "euc"}})
        ours = get_evaluator(name)
        timing = {"ours": [], "opengait": []}
        with tempfile.TemporaryDirectory() as cwd:
            old = os.getcwd()
            os.chdir(cwd)                              # OpenGait's Gait3D reads ./datasets/Gait3D/Gait3D.json
            try:
                Path("datasets/Gait3D").mkdir(parents=True)
                Path("datasets/Gait3D/Gait3D.json").write_text(json.dumps({"PROBE_SET": partition.get("PROBE_SET", [])}))
                for _ in range(3):
                    start = time.perf_counter()
                    mine = ours(feats, dataset, cfg, None).metrics
                    timing["ours"].append(time.perf_counter() - start)
                    data = {"embeddings": feats, "labels": list(ids), "types": list(kinds), "views": list(views)}
                    start = time.perf_counter()
                    theirs = getattr(og, name)(data, dataset_name, "euc")
                    timing["opengait"].append(time.perf_counter() - start)
            finally:
                os.chdir(old)
        agree = agreement_of(mode, mine, theirs)
        out[mode] = {"ours_s": min(timing["ours"]), "opengait_s": min(timing["opengait"]), "agreement": agree,
                     "max_difference": max(abs(a - b) for a, b in agree.values())}
    return out


# --- orchestration (called by bench_opengait_agreement.py --speed) ----------------------------

def in_fresh_process(checkout: str, *options: str, threads: int = 1) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, str(Path(__file__)), "--opengait", checkout, "--threads", str(threads),
                           *options], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"opengait_speed.py {' '.join(options)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def side_by_side(checkout: str, threads: int = 1, batch: str = "1x2", frames: int = 30, steps: int = 3) -> dict:
    """Every training and evaluation measurement, each in its own process."""
    from tqdm import tqdm
    jobs = [(m, impl) for m in TRAIN_MODELS for impl in ("opengait", "ours", "ours-compiled")]
    train = []
    first_matmul = in_fresh_process(checkout, "--measure", "matmul", threads=threads)
    for model, impl in tqdm(jobs, desc="training steps", unit="run"):
        train.append(in_fresh_process(checkout, "--measure", "train", "--model", model, "--impl", impl,
                                      "--batch", batch, "--frames", str(frames), "--steps", str(steps),
                                      "--warmup", "3" if impl == "ours-compiled" else "2", threads=threads))
    matmul = max(first_matmul, in_fresh_process(checkout, "--measure", "matmul", threads=threads),
                 key=lambda r: r["flops_per_s"])
    evaluation = in_fresh_process(checkout, "--measure", "eval", threads=threads)
    return {"train": train, "matmul": matmul, "eval": evaluation, "machine": machine(threads)}


def report_lines(speed: dict, pretreatment: dict | None) -> list[str]:
    """The side-by-side table: ours / OpenGait's time (< 1 is faster) and memory."""
    gib = 2 ** 30
    rate = speed["matmul"]["flops_per_s"]
    lines = [f"Machine: {speed['machine']}; fp32 matrix product rate measured {rate / 1e9:.1f} GFLOP/s.", "",
             "| step | OpenGait | ours (eager) | ours (compiled) | time ours / OpenGait | peak memory ours / OpenGait | "
             "FLOP rate, share of the matrix-product rate | threads |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    by = {(r["model"], r["impl"]): r for r in speed["train"]}
    for model in TRAIN_MODELS:
        og, eager, comp = by[(model, "opengait")], by[(model, "ours")], by[(model, "ours-compiled")]
        flop_share = eager["flops_per_step"] / eager["step_s"] / rate
        lines.append(
            f"| training step {model}, {og['batch']} frames, fp32 | {og['step_s']:.3f} s | {eager['step_s']:.3f} s | "
            f"{comp['step_s']:.3f} s (first step, compiling included: {comp['first_step_s']:.0f} s) | {eager['step_s'] / og['step_s']:.2f} eager, "
            f"{comp['step_s'] / og['step_s']:.2f} compiled | {eager['peak_step_bytes'] / max(og['peak_step_bytes'], 1):.2f} "
            f"eager, {comp['peak_step_bytes'] / max(og['peak_step_bytes'], 1):.2f} compiled "
            f"({og['peak_step_bytes'] / gib:.2f} GiB OpenGait) | {100 * flop_share:.0f}% eager, "
            f"{100 * eager['flops_per_step'] / comp['step_s'] / rate:.0f}% compiled | {eager['threads']} |")
        if "cuda_fp16_step_s" in og:
            lines.append(f"| training step {model}, CUDA fp16 | {og['cuda_fp16_step_s']:.4f} s | "
                         f"{eager['cuda_fp16_step_s']:.4f} s | {comp['cuda_fp16_step_s']:.4f} s | "
                         f"{eager['cuda_fp16_step_s'] / og['cuda_fp16_step_s']:.2f} eager | "
                         f"{eager['cuda_fp16_peak_bytes'] / og['cuda_fp16_peak_bytes']:.2f} | | |")
    ev = speed["eval"]
    for mode, r in ev["modes"].items():
        lines.append(f"| evaluation, {mode}, {ev['features'][0]:,} x {ev['features'][1:]} features | "
                     f"{r['opengait_s']:.2f} s | {r['ours_s']:.2f} s | | {r['ours_s'] / r['opengait_s']:.2f} "
                     f"({r['opengait_s'] / r['ours_s']:.1f}x faster; rank-1 differs by at most "
                     f"{r['max_rank1_difference']:.3f} points) | | | {ev['threads']} |")
    for mode, r in ev.get("other_modes", {}).items():
        lines.append(f"| evaluation, {mode} | {r['opengait_s']:.2f} s | {r['ours_s']:.2f} s | | "
                     f"{r['ours_s'] / r['opengait_s']:.2f} ({r['opengait_s'] / r['ours_s']:.1f}x faster; "
                     f"{', '.join(r['agreement'])} differ by at most {r['max_difference']:.3f} points) | | | "
                     f"{ev['threads']} |")
    if pretreatment:
        if pretreatment.get("silhouettes_seconds_reference"):
            ours_s, ref_s = pretreatment["silhouettes_seconds_ours"], pretreatment["silhouettes_seconds_reference"]
            lines.append(f"| silhouette pretreatment, {pretreatment['silhouettes']['sequences']} sequences | "
                         f"{ref_s:.1f} s | {ours_s:.1f} s (whole script) | | {ours_s / ref_s:.2f} "
                         f"({ref_s / ours_s:.1f}x faster, identical output) | | | 1 |")
        lines.append(f"| skeleton maps, {pretreatment['maps_frames']} frames | {pretreatment['maps_fps_reference']:.0f} "
                     f"frames/s | {pretreatment['maps_fps_ours']:.0f} frames/s | | "
                     f"{pretreatment['maps_fps_reference'] / pretreatment['maps_fps_ours']:.2f} "
                     f"({pretreatment['speedup']}x faster) | | | 1 |")
    return lines


def main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO / "benchmarks"))
    measure = {"train": measure_train, "eval": measure_eval, "matmul": measure_matmul,
               "saved": measure_saved}[args.measure]
    print(json.dumps(measure(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(parse_args()))
