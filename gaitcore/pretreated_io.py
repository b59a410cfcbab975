"""Reading and writing the pretreated layout (numpy only).

The contract (documented in docs/pretreated-format.md)::

    root/<id>/<type>/<view>/0_heatmap.pkl   uint8   (T, 2, 64, 64)  limb map, joint map
                            1_sil.pkl       uint8   (T, 64, 64)     aligned silhouettes
                            2_pose.pkl      float32 (T, 17, 3)      COCO-17 x, y, confidence
    gei/<id>/<type>/<view>.png                                      mean silhouette, uint8
    partition.json   {"TRAIN_SET": [ids], "TEST_SET": [ids], optional "PROBE_SET": [...]}

Files of a sequence are read in sorted name order (that order is the modality order) and all
have the same T >= 1. As in OpenGait, a reader selects files by sorted *position*
(``data_in_use``); our own names (``0_heatmap``, ``1_sil``, ``2_pose``) say which modality a file
holds, and files named otherwise (OpenGait's ``<view>.pkl``) are identified by their array's
shape (:func:`modality_layout`). Every write is atomic; every ``.pkl`` read goes through the
restricted unpickler in :mod:`gaitcore.safe_pickle`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from gaitcore.atomic_files import (atomic_write_bytes, atomic_write_files,
                                   atomic_write_text, is_temp_name)
from gaitcore.errors import PretreatedFormatError
from gaitcore.safe_pickle import dumps_pickle, load_pickle, peek_pickle

HEATMAP, SILHOUETTE, POSE = "0_heatmap", "1_sil", "2_pose"
NUM_JOINTS = 17
SIL_SIZE = 64

# name -> (dtype, shape after the frame axis)
MODALITY_SPECS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    HEATMAP: (np.dtype(np.uint8), (2, SIL_SIZE, SIL_SIZE)),
    SILHOUETTE: (np.dtype(np.uint8), (SIL_SIZE, SIL_SIZE)),
    POSE: (np.dtype(np.float32), (NUM_JOINTS, 3)),
}

PARTITION_REQUIRED_KEYS = ("TRAIN_SET", "TEST_SET")
# PROBE_SET / GALLERY_SET: sequence keys of a retrieval protocol (CCVID, Gait3D); AUGMENTED_SET:
# DLCR-augmented training sequences; TEST_SEQUENCES: every raw test sequence preprocessing saw,
# the denominator of the evaluators' "probes evaluated / expected".
PARTITION_OPTIONAL_LIST_KEYS = ("PROBE_SET", "GALLERY_SET", "AUGMENTED_SET", "TEST_SEQUENCES")


@dataclass(frozen=True)
class SequenceRef:
    """One sequence folder ``root/<id>/<type>/<view>`` and its ``.pkl`` file names (sorted)."""

    subject: str
    type: str
    view: str
    path: Path
    files: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.type}/{self.view}"


def validate_modality(name: str, array: np.ndarray, where: str | os.PathLike,
                      values: bool = True) -> None:
    """Check dtype and shape of one modality array (and, with ``values``, that floats are
    finite); ``where`` is named in the error."""
    if not isinstance(array, np.ndarray):
        raise PretreatedFormatError(f"{where}: expected a numpy array, got {type(array).__name__}")
    spec = MODALITY_SPECS.get(name)
    if spec is None:
        if array.ndim < 1:
            raise PretreatedFormatError(f"{where}: expected an array with a frame axis")
    else:
        dtype, tail = spec
        if array.dtype != dtype:
            raise PretreatedFormatError(f"{where}: dtype {array.dtype}, expected {dtype}")
        if array.shape[1:] != tail or array.ndim != len(tail) + 1:
            raise PretreatedFormatError(
                f"{where}: shape {array.shape}, expected (T, {', '.join(map(str, tail))})")
    if array.shape[0] < 1:
        raise PretreatedFormatError(f"{where}: has no frames (T = 0)")
    if values:
        check_finite(array, where)


def check_finite(array: np.ndarray, where: str | os.PathLike) -> None:
    """Float arrays must hold no NaN or infinity (they would poison training)."""
    if array.dtype.kind in "fc":
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise PretreatedFormatError(f"{where}: {bad} values are NaN or infinite")


def validate_sequence(arrays: Mapping[str, np.ndarray], where: str | os.PathLike) -> int:
    """Validate every modality and the shared frame count; return T."""
    if not arrays:
        raise PretreatedFormatError(f"{where}: no modality arrays")
    for name, array in arrays.items():
        validate_modality(name, array, Path(where) / f"{name}.pkl")
    return validate_frame_counts(arrays, where)


def validate_frame_counts(arrays: Mapping[str, np.ndarray], where: str | os.PathLike) -> int:
    """All modalities of a sequence have the same T >= 1; return T."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        detail = ", ".join(f"{n} T={t}" for n, t in sorted(lengths.items()))
        raise PretreatedFormatError(f"{where}: frame counts differ ({detail})")
    t = next(iter(lengths.values()))
    if t < 1:
        raise PretreatedFormatError(f"{where}: has no frames (T = 0)")
    return t


def write_sequence(seq_dir: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                   overwrite: bool = False) -> int:
    """Write a sequence folder (any subset of the modalities) atomically; return T.

    Arrays are validated first; the folder is built aside and renamed into place, so it is
    either complete or absent. An existing folder raises ``FileExistsError`` unless
    ``overwrite``, in which case it is replaced as a whole.
    """
    seq_dir = Path(seq_dir)
    n_frames = validate_sequence(arrays, seq_dir)
    blobs = {f"{name}.pkl": dumps_pickle(np.ascontiguousarray(a)) for name, a in arrays.items()}
    atomic_write_files(seq_dir, blobs, overwrite=overwrite)
    return n_frames


def write_pkl(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write one modality file atomically (validated when its name is a known modality)."""
    path = Path(path)
    validate_modality(path.stem, array, path)
    atomic_write_bytes(path, dumps_pickle(np.ascontiguousarray(array)))


def read_pkl(path: str | os.PathLike, validate: bool = True) -> np.ndarray:
    """Read one modality file through the restricted unpickler."""
    path = Path(path)
    array = load_pickle(path)
    if validate:
        validate_modality(path.stem, array, path)
    return array


def sequence_files(seq_dir: str | os.PathLike) -> list[Path]:
    """The ``.pkl`` files of a sequence folder in modality (sorted name) order."""
    seq_dir = Path(seq_dir)
    if not seq_dir.is_dir():
        raise PretreatedFormatError(f"{seq_dir}: not a sequence folder")
    files = sorted(seq_dir / e.name for e in os.scandir(seq_dir)
                   if e.name.endswith(".pkl") and not is_temp_name(e.name))
    if not files:
        raise PretreatedFormatError(f"{seq_dir}: no .pkl files")
    return files


def read_sequence(seq_dir: str | os.PathLike, modalities: Iterable[str] | None = None,
                  validate: bool = True) -> dict[str, np.ndarray]:
    """Read a sequence folder into ``{name: array}`` in modality order.

    ``modalities`` picks a subset by name (e.g. ``["1_sil"]``); a missing one is an error.
    """
    seq_dir = Path(seq_dir)
    files = {p.stem: p for p in sequence_files(seq_dir)}
    names = list(files) if modalities is None else list(modalities)
    missing = [n for n in names if n not in files]
    if missing:
        raise PretreatedFormatError(
            f"{seq_dir}: missing {', '.join(m + '.pkl' for m in missing)} "
            f"(has {', '.join(sorted(files))})")
    arrays = {name: read_pkl(files[name], validate=validate) for name in names}
    if validate:
        validate_sequence(arrays, seq_dir)
    return arrays


def _visible_dirs(folder: str) -> list[os.DirEntry]:
    return sorted((e for e in os.scandir(folder)
                   if e.is_dir() and not e.name.startswith(".")), key=lambda e: e.name)


def list_sequences(root: str | os.PathLike,
                   subjects: Iterable[str] | None = None) -> list[SequenceRef]:
    """All sequence folders ``root/<id>/<type>/<view>`` that hold at least one ``.pkl``, with
    their sorted ``.pkl`` names.

    Sorted by (id, type, view); hidden and temp folders are skipped. ``subjects`` restricts
    the scan to those ids (ids not on disk are simply absent from the result).
    """
    root = Path(root)
    if not root.is_dir():
        raise PretreatedFormatError(f"{root}: dataset root does not exist or is not a folder")
    wanted = None if subjects is None else set(map(str, subjects))
    refs = []
    for sid in _visible_dirs(root):
        if wanted is not None and sid.name not in wanted:
            continue
        for typ in _visible_dirs(sid.path):
            for view in _visible_dirs(typ.path):
                files = tuple(sorted(e.name for e in os.scandir(view.path)
                                     if e.name.endswith(".pkl") and not is_temp_name(e.name)))
                if files:
                    refs.append(SequenceRef(sid.name, typ.name, view.name, Path(view.path), files))
    return refs


# --- selecting files by position, as OpenGait's loader does --------------------------------

def identify_modality(array: object, where: str | os.PathLike) -> str:
    """Which modality an array from a file not named by us holds, from its dtype and shape:
    (T, 17, 2|3) float keypoints, (T, C, H, W) skeleton maps, (T, H, W) uint8 silhouettes."""
    if isinstance(array, np.ndarray) and array.ndim >= 1 and array.shape[0] >= 1:
        if array.ndim == 3 and array.shape[1:] in ((NUM_JOINTS, 3), (NUM_JOINTS, 2)) \
                and np.issubdtype(array.dtype, np.floating):
            return POSE
        if array.ndim == 4 and array.dtype == np.uint8:
            return HEATMAP
        if array.ndim == 3 and array.dtype == np.uint8:
            return SILHOUETTE
    shape = getattr(array, "shape", None)
    raise PretreatedFormatError(
        f"{where}: cannot tell which modality this file holds ({type(array).__name__} "
        f"{getattr(array, 'dtype', '')} {shape}); expected uint8 silhouettes (T, H, W), uint8 "
        "skeleton maps (T, C, H, W) or float keypoints (T, 17, 3)")


@dataclass(frozen=True)
class ModalityLayout:
    """Which sorted-position files a reader uses and what each holds."""

    n_files: int                       # files per sequence
    positions: tuple[int, ...]         # positions in use (data_in_use)
    names: tuple[str, ...]             # the modality at each position in use
    file_names: tuple[str, ...] | None  # our 0_/1_/2_ names when the root uses them

    def check(self, ref: SequenceRef) -> None:
        """Every sequence must have the same file count (and our names, where we named them)."""
        if len(ref.files) != self.n_files:
            raise PretreatedFormatError(
                f"{ref.path}: {len(ref.files)} .pkl files ({', '.join(ref.files)}), but the "
                f"sequences of this root hold {self.n_files}; data_in_use selects files by position")
        if self.file_names is not None and ref.files != self.file_names:
            raise PretreatedFormatError(f"{ref.path}: files {', '.join(ref.files)} differ from the "
                                        f"root's {', '.join(self.file_names)}")

    def read(self, ref: SequenceRef, validate: bool = True, headers_only: bool = False
             ) -> dict[str, np.ndarray]:
        """The arrays in use of one sequence, keyed by modality name. ``headers_only`` skips
        the large array payloads on disk (:func:`peek_pickle`): shapes, dtypes and frame
        counts are checked, values are undefined -- a cheap check of many sequences."""
        arrays = {}
        for pos, name in zip(self.positions, self.names):
            path = ref.path / ref.files[pos]
            array = peek_pickle(path) if headers_only else load_pickle(path)
            if validate:
                if self.file_names is not None:
                    validate_modality(name, array, path, values=not headers_only)
                elif identify_modality(array, path) != name:
                    raise PretreatedFormatError(f"{path}: holds {identify_modality(array, path)}, "
                                                f"but this position holds {name} in the first sequence")
                elif not headers_only:
                    check_finite(array, path)
            arrays[name] = array
        if validate:
            validate_frame_counts(arrays, ref.path)
        return arrays


def select_positions(data_in_use, n_files: int, where: str = "data_in_use") -> tuple[int, ...]:
    """OpenGait's ``data_in_use``: booleans over the sorted files (a shorter list leaves the
    files after it out, as OpenGait's loader does), or a list of positions; None uses every
    file."""
    if data_in_use is None:
        return tuple(range(n_files))
    if not isinstance(data_in_use, (list, tuple)) or not data_in_use:
        raise PretreatedFormatError(f"{where}: expected a list of booleans or of file positions, "
                                    f"got {data_in_use!r}")
    if all(isinstance(v, bool) for v in data_in_use):
        if len(data_in_use) > n_files:
            raise PretreatedFormatError(f"{where} has {len(data_in_use)} entries but the sequences "
                                        f"hold {n_files} files")
        positions = tuple(i for i, on in enumerate(data_in_use) if on)
    elif all(type(v) is int for v in data_in_use):
        bad = [v for v in data_in_use if not 0 <= v < n_files]
        if bad:
            raise PretreatedFormatError(f"{where}: positions {bad} out of range for {n_files} files")
        positions = tuple(data_in_use)
    else:
        raise PretreatedFormatError(f"{where}: mixes booleans and positions: {data_in_use!r}")
    if not positions:
        raise PretreatedFormatError(f"{where} switches every file off")
    return positions


def modality_layout(first: SequenceRef, data_in_use=None, where: str = "data_in_use",
                    wanted: Iterable[str] | None = None) -> ModalityLayout:
    """The layout of a root from its first sequence: our names say what a file holds; other
    names (OpenGait's ``<view>.pkl``) are identified by loading the file once. With
    ``data_in_use`` None and ``wanted`` (the modalities a model reads), only the files holding
    those are used; a missing one is an error."""
    positions = select_positions(data_in_use, len(first.files), where)
    stems = [Path(f).stem for f in first.files]
    if all(stem in MODALITY_SPECS for stem in stems):
        names, file_names = tuple(stems[p] for p in positions), first.files
    else:
        names = tuple(identify_modality(load_pickle(first.path / first.files[p]),
                                        first.path / first.files[p]) for p in positions)
        file_names = None
    if data_in_use is None and wanted is not None:
        wanted = tuple(wanted)
        missing = [w for w in wanted if w not in names]
        if missing:
            raise PretreatedFormatError(
                f"{first.path}: the model reads {', '.join(wanted)}, but the sequence holds "
                f"{', '.join(names)} (no {', '.join(missing)})")
        positions, names = zip(*[(p, n) for p, n in zip(positions, names) if n in wanted])
    if len(set(names)) != len(names):
        raise PretreatedFormatError(f"{where} selects {len(names)} files of {first.path} but they "
                                    f"hold {', '.join(names)}: one file per modality")
    return ModalityLayout(len(first.files), positions, names, file_names)


def read_json(path: str | os.PathLike, what: str, error: type[Exception] | None = None):
    """Parse a JSON file; a missing or malformed file raises ``error`` naming it and ``what``."""
    error = error or PretreatedFormatError
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not valid JSON ({e})") from None


def read_partition(path: str | os.PathLike) -> dict[str, list]:
    """Read and validate a partition JSON (TRAIN_SET and TEST_SET lists of ids)."""
    data = read_json(path, "partition file")
    _validate_partition(data, path)
    return data


def write_partition(path: str | os.PathLike, train_ids: Iterable, test_ids: Iterable,
                    **extra_sets: Iterable) -> dict[str, list]:
    """Write a partition JSON atomically; ``extra_sets`` e.g. ``PROBE_SET=[...]``."""
    data: dict[str, list] = {"TRAIN_SET": [str(i) for i in train_ids],
                             "TEST_SET": [str(i) for i in test_ids]}
    for key, values in extra_sets.items():
        data[key] = list(values) if not isinstance(values, Mapping) else values
    _validate_partition(data, path)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return data


def _validate_partition(data: object, where: str | os.PathLike) -> None:
    if not isinstance(data, dict):
        raise PretreatedFormatError(f"{where}: partition must be a JSON object")
    for key in PARTITION_REQUIRED_KEYS:
        if key not in data:
            raise PretreatedFormatError(f"{where}: missing key {key!r} "
                                        f"(has {', '.join(map(repr, data)) or 'nothing'})")
    for key in PARTITION_REQUIRED_KEYS + PARTITION_OPTIONAL_LIST_KEYS:
        if key in data and not (isinstance(data[key], list)
                                and all(isinstance(i, str) for i in data[key])):
            raise PretreatedFormatError(f"{where}: {key!r} must be a list of id strings")
    overlap = set(data["TRAIN_SET"]) & set(data["TEST_SET"])
    if overlap:
        shown = ", ".join(sorted(overlap)[:5])
        raise PretreatedFormatError(f"{where}: ids in both TRAIN_SET and TEST_SET: {shown}")


# --- GEI: 8-bit grayscale PNG (OpenCV's codec; imported on first use so that reading the
# pickles, which the trainer does, does not load it) -------------------------------------------

def encode_png_gray(image: np.ndarray) -> bytes:
    """Encode a 2-D uint8 array as a grayscale PNG."""
    import cv2
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 image, got {image.dtype} {image.shape}")
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as PNG")
    return data.tobytes()


def decode_png_gray(data: bytes, where: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode an 8-bit grayscale PNG into a 2-D uint8 array; anything else is refused."""
    import cv2
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise PretreatedFormatError(f"{where}: not a PNG file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise PretreatedFormatError(f"{where}: truncated or corrupt PNG")
    if image.ndim != 2 or image.dtype != np.uint8:
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise PretreatedFormatError(f"{where}: only 8-bit grayscale PNGs are read here "
                                    f"({image.dtype}, {channels} channel(s))")
    return image


def gei_path(gei_root: str | os.PathLike, subject: str, typ: str, view: str) -> Path:
    """``gei_root/<id>/<type>/<view>.png``."""
    return Path(gei_root) / subject / typ / f"{view}.png"


def compute_gei(silhouettes: np.ndarray) -> np.ndarray:
    """Gait energy image: the per-pixel mean of aligned silhouettes, rounded to uint8."""
    if silhouettes.ndim != 3 or silhouettes.shape[0] < 1:
        raise ValueError(f"expected silhouettes (T >= 1, H, W), got {silhouettes.shape}")
    return np.rint(silhouettes.astype(np.float32).mean(axis=0)).astype(np.uint8)


def write_gei(path: str | os.PathLike, gei: np.ndarray) -> None:
    """Write a GEI PNG atomically."""
    atomic_write_bytes(path, encode_png_gray(gei))


def read_gei(path: str | os.PathLike) -> np.ndarray:
    """Read a GEI PNG written by :func:`write_gei` (or any 8-bit grayscale PNG)."""
    path = Path(path)
    return decode_png_gray(path.read_bytes(), path)
