"""Trained models as ONNX files, and running them with onnxruntime.

An exported file maps the model's inputs -- one tensor per modality it reads, named ``heatmap``
(N, T, 2, H, W), ``sil`` (N, T, H, W), ``pose`` (N, T, 17, 3) or GaitGraph2's multi-input
(N, T, 17, 3, 5), each after the config's evaluator transforms, plus ``frames`` (N, T) int64, the
frames' indices in the stored sequence -- to ``embeddings`` (N, C, P), with the batch N and the
frame count T dynamic. The sequences of one batch have the same length (the exported graph has
no padding); the embedders below run one sequence, or one length, at a time.

The file's metadata (``metadata_props``) records the model identity of the checkpoint it came
from (the same as a gallery records: model, model_cfg and checkpoint SHA-256, iteration,
metric), the modality files behind each input, and the export's own check: the largest
difference from PyTorch's embeddings on the example it was traced with. A gallery enrolled with
PyTorch is therefore accepted by identify with the ONNX file of the same checkpoint, and the
other way round.

onnxruntime (and, for exporting, onnx and onnxscript) is an optional extra
(``requirements-onnx.txt``); without it these functions stop with one line saying so.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from gaitcore.pretreated_io import HEATMAP, POSE, SILHOUETTE
from gaitcore.errors import CheckpointError, UserInputError

INPUT_NAMES = {HEATMAP: "heatmap", SILHOUETTE: "sil", POSE: "pose"}
IDENTITY_KEY, INPUTS_KEY, EXPORT_KEY = "hybridgait.identity", "hybridgait.inputs", "hybridgait.export"
EXPORT_TOLERANCE = 1e-4              # largest |onnxruntime - torch| an export may leave
INSTALL_HINT = "pip install -r requirements-onnx.txt"


def require(module: str):
    """Import an optional ONNX package, or stop with one line naming the install command."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserInputError(f"{module} is not installed (ONNX export and the onnxruntime backend are an "
                             f"optional extra): {INSTALL_HINT}") from None


def embedding_graph(model, modalities: tuple[str, ...]):
    """The model as a module of plain tensors: (one tensor per modality, frames) -> embeddings.
    ``lengths`` is None: every sequence of a batch has all T frames."""
    import torch

    class EmbeddingGraph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            *data, frames = tensors
            out = self.model(dict(zip(modalities, data)), None, frames)
            return out["inference_feat"]["embeddings"]

    return EmbeddingGraph().eval()


def export(model, modalities: tuple[str, ...], example: dict[str, np.ndarray], out: str | Path,
           identity: dict, opset: int = 18) -> dict:
    """Trace ``model`` on ``example`` (modality -> (T, ...) array, after the evaluator's
    transforms), write the ONNX file atomically to ``out`` and check it with onnxruntime on the
    example and on a batch of two at another length. Returns the export record (also stored in
    the file). A file whose embeddings differ from PyTorch's by more than 1e-4 is not written."""
    import torch
    from gaitcore.atomic_files import atomic_path
    require("onnx"), require("onnxscript"), require("onnxruntime")
    onnx = require("onnx")
    graph = embedding_graph(model, modalities)
    t = len(next(iter(example.values())))
    if t < 3:
        raise UserInputError(f"the example sequence has {t} frames; exporting needs at least 3")
    # a batch of two (torch.export would fix a dimension of size 1): the example and its frames
    # in reverse order, so the trace also meets a batch whose rows differ
    one = tuple(torch.from_numpy(np.ascontiguousarray(example[m], np.float32))[None] for m in modalities)
    tensors = tuple(torch.cat([x, x.flip(1)]) for x in one)
    frames = torch.arange(t, dtype=torch.long)[None].repeat(2, 1)
    # batch and frames dynamic, their ranges as the model's code allows (the checks below run a
    # batch of one and of three at another length)
    dynamic = tuple({0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC} for _ in range(len(modalities) + 1))
    names = [INPUT_NAMES[m] for m in modalities] + ["frames"]
    for name in ("onnx_ir", "onnxscript"):           # their INFO lines are per graph pass
        logging.getLogger(name).setLevel(logging.WARNING)
    started = time.perf_counter()
    with atomic_path(out) as tmp:
        program = torch.onnx.export(graph, (*tensors, frames), dynamo=True, dynamic_shapes=(dynamic,),
                                    input_names=names, output_names=["embeddings"], opset_version=opset,
                                    optimize=True, verbose=False)
        program.save(str(tmp))
        seconds = time.perf_counter() - started
        # the check: the traced batch, one sequence, and three of another length
        other = max(2, t - 5)
        checks = [(tensors, frames), (one, frames[:1]),
                  (tuple(torch.cat([x[:1, :other], x[:1, -other:], x[1:, :other]]) for x in tensors),
                   torch.arange(other, dtype=torch.long)[None].repeat(3, 1))]
        session = session_for(tmp)
        worst = 0.0
        for xs, fr in checks:
            with torch.no_grad():
                expected = graph(*xs, fr).float().numpy()
            got = session.run(["embeddings"], {n: v.numpy() for n, v in zip(names, (*xs, fr))})[0]
            worst = max(worst, float(np.abs(got - expected).max()))
        if not worst <= EXPORT_TOLERANCE:
            raise CheckpointError(f"{out}: onnxruntime's embeddings differ from PyTorch's by {worst:.2e} "
                                  f"(> {EXPORT_TOLERANCE:g}); the file was not written")
        record = {"opset": opset, "torch": torch.__version__, "onnxruntime": require("onnxruntime").__version__,
                  "max_abs_diff_vs_torch": worst, "traced_frames": t, "export_seconds": round(seconds, 1),
                  "exported": time.strftime("%Y-%m-%d %H:%M:%S")}
        proto = onnx.load(str(tmp))
        inputs = {INPUT_NAMES[m]: m for m in modalities}
        for key, value in ((IDENTITY_KEY, identity), (INPUTS_KEY, inputs), (EXPORT_KEY, record)):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value, sort_keys=True)
        onnx.save(proto, str(tmp))
    return record


def session_for(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session (threads: intra-op threads, default onnxruntime's)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def read_metadata(path: str | Path) -> dict:
    """``{"identity", "inputs", "export"}`` of an exported file (onnxruntime only; no torch)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: ONNX file not found (make one with opengait/opengait/tools/export_onnx.py)")
    try:
        meta = session_for(path).get_modelmeta().custom_metadata_map
    except CheckpointError:
        raise
    except Exception as e:                                     # onnxruntime's own load errors
        raise CheckpointError(f"{path}: not an ONNX model onnxruntime can load ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]})") from None
    if IDENTITY_KEY not in meta:
        raise CheckpointError(f"{path}: not exported by export_onnx.py (no {IDENTITY_KEY} metadata), so the "
                              "model it holds is unknown")
    return {"identity": json.loads(meta[IDENTITY_KEY]), "inputs": json.loads(meta[INPUTS_KEY]),
            "export": json.loads(meta.get(EXPORT_KEY, "{}"))}


class OnnxModel:
    """An exported model run by onnxruntime: ``embed(batch)`` with numpy arrays only."""

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        meta = read_metadata(self.path)
        self.identity, self.inputs = meta["identity"], meta["inputs"]
        self.session = session_for(self.path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.inputs[n] for n in self.input_names if n in self.inputs)

    def embed(self, data: dict[str, np.ndarray], frames: np.ndarray) -> np.ndarray:
        """(N, C, P) embeddings of N sequences of one length: ``data`` modality -> (N, T, ...),
        ``frames`` (N, T) their indices in the stored sequences."""
        feeds = {}
        for name in self.input_names:
            if name == "frames":
                feeds[name] = np.asarray(frames, np.int64)
            else:
                feeds[name] = np.ascontiguousarray(data[self.inputs[name]], np.float32)
        return self.session.run(["embeddings"], feeds)[0]
