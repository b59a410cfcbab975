"""The settings of OpenGait's own experiment files for GaitBase and SkeletonGait++ (as of its
commit 0efafd4), as data: a shared part plus what each file sets differently. The compatibility
test writes each one to YAML and runs it here with only the data paths changed."""
from __future__ import annotations

import copy

TRIPLET = {"loss_term_weight": 1.0, "margin": 0.2, "type": "TripletLoss", "log_prefix": "triplet"}
SOFTMAX = {"loss_term_weight": 1.0, "scale": 16, "type": "CrossEntropyLoss", "log_prefix": "softmax",
           "log_accuracy": True}
# The spelling of two SkeletonGait++ files.
TRIPLET_S = {**{k: v for k, v in TRIPLET.items() if k != "loss_term_weight"}, "loss_term_weights": 1.0}
SOFTMAX_S = {**{k: v for k, v in SOFTMAX.items() if k != "loss_term_weight"}, "loss_term_weights": 1.0}
RESNET9 = {"type": "ResNet9", "block": "BasicBlock", "channels": [64, 128, 256, 512],
           "layers": [1, 1, 1, 1], "strides": [1, 2, 2, 1], "maxpool": False}
DA_TRANSFORM = [{"type": "Compose", "trf_cfg": [
    {"type": "RandomPerspective", "prob": 0.2}, {"type": "BaseSilCuttingTransform"},
    {"type": "RandomHorizontalFlip", "prob": 0.2}, {"type": "RandomRotate", "prob": 0.2}]}]


def _gaitbase(name, classes, test_hint, total, milestones, save_iter, sampler, transform,
              eval_func=None, data_in_use=None, eval_transform=None, with_test=False, save_name="GaitBase"):
    cfg = {
        "data_cfg": {"dataset_name": name, "dataset_root": "your_path",
                     "dataset_partition": f"./datasets/{name}/{name}.json", "num_workers": 1,
                     "remove_no_gallery": False, "test_dataset_name": name},
        "evaluator_cfg": {"enable_float16": True, "restore_ckpt_strict": True, "restore_hint": test_hint,
                          "save_name": save_name,
                          "sampler": {"batch_shuffle": False, "batch_size": 16, "sample_type": "all_ordered",
                                      "frames_all_limit": 720},
                          "metric": "euc", "transform": eval_transform or [{"type": "BaseSilCuttingTransform"}]},
        "loss_cfg": [TRIPLET, SOFTMAX],
        "model_cfg": {"model": "Baseline", "backbone_cfg": RESNET9,
                      "SeparateFCs": {"in_channels": 512, "out_channels": 256, "parts_num": 16},
                      "SeparateBNNecks": {"class_num": classes, "in_channels": 256, "parts_num": 16},
                      "bin_num": [16]},
        "optimizer_cfg": {"lr": 0.1, "momentum": 0.9, "solver": "SGD", "weight_decay": 0.0005},
        "scheduler_cfg": {"gamma": 0.1, "milestones": milestones, "scheduler": "MultiStepLR"},
        "trainer_cfg": {"enable_float16": True, "fix_BN": False, "with_test": with_test, "log_iter": 100,
                        "restore_ckpt_strict": True, "restore_hint": 0, "save_iter": save_iter,
                        "save_name": save_name, "sync_BN": True, "total_iter": total,
                        "sampler": {"batch_shuffle": True, "type": "TripletSampler", **sampler},
                        "transform": transform},
    }
    if eval_func:
        cfg["evaluator_cfg"]["eval_func"] = eval_func
    if data_in_use:
        cfg["data_cfg"]["data_in_use"] = data_in_use
    return cfg


def _skeletongait(name, classes, blocks, test_hint, train_hint, total, milestones, save_iter,
                  batch, frames, eval_func, transform=None, eval_transform=None, losses=(TRIPLET_S, SOFTMAX_S),
                  num_workers=1):
    return {
        "data_cfg": {"dataset_name": name, "dataset_root": "your_path",
                     "dataset_partition": f"./datasets/{name}/{name}.json", "num_workers": num_workers,
                     "data_in_use": [True, True], "remove_no_gallery": False, "test_dataset_name": name},
        "evaluator_cfg": {"enable_float16": True, "restore_ckpt_strict": True, "restore_hint": test_hint,
                          "save_name": "SkeletonGaitPP", "eval_func": eval_func,
                          "sampler": {"batch_shuffle": False, "batch_size": 4, "sample_type": "all_ordered",
                                      "frames_all_limit": 720},
                          "metric": "euc", "transform": eval_transform or [{"type": "BaseSilCuttingTransform"}]},
        "loss_cfg": list(losses),
        "model_cfg": {"model": "SkeletonGaitPP", "Backbone": {"in_channels": 3, "blocks": blocks, "C": 2},
                      "SeparateBNNecks": {"class_num": classes}},
        "optimizer_cfg": {"lr": 0.1, "momentum": 0.9, "solver": "SGD", "weight_decay": 0.0005},
        "scheduler_cfg": {"gamma": 0.1, "milestones": milestones, "scheduler": "MultiStepLR"},
        "trainer_cfg": {"enable_float16": True, "fix_BN": False, "log_iter": 100, "restore_ckpt_strict": True,
                        "restore_hint": train_hint, "save_iter": save_iter, "save_name": "SkeletonGaitPP",
                        "sync_BN": True, "total_iter": total,
                        "sampler": {"batch_shuffle": True, "batch_size": batch, "frames_num_fixed": frames,
                                    "frames_skip_num": 4, "sample_type": "fixed_ordered",
                                    "type": "TripletSampler"},
                        "transform": transform or DA_TRANSFORM},
    }


FIXED_30 = {"frames_num_fixed": 30, "frames_num_max": 40, "frames_num_min": 20, "sample_type": "fixed_unordered"}
CASIA_DA = [{"type": "Compose", "trf_cfg": [{"type": "BaseSilCuttingTransform"},
                                            {"type": "RandomRotate", "prob": 0.3},
                                            {"type": "RandomErasing", "prob": 0.3}]}]
SIL_DA = [{"type": "Compose", "trf_cfg": [
    {"type": "RandomPerspective", "prob": 0.2}, {"type": "BaseSilTransform"},
    {"type": "RandomHorizontalFlip", "prob": 0.2}, {"type": "RandomRotate", "prob": 0.2}]}]

CONFIGS = {
    "gaitbase/gaitbase_da_casiab": _gaitbase(
        "CASIA-B", 74, 60000, 60000, [20000, 40000, 50000], 60000,
        {"batch_size": [8, 16], **FIXED_30}, CASIA_DA, save_name="GaitBase_DA"),
    "gaitbase/gaitbase_da_gait3d": _gaitbase(
        "Gait3D", 3000, 60000, 60000, [20000, 40000, 50000], 20000,
        {"batch_size": [32, 4], "frames_num_fixed": 30, "frames_num_max": 50, "frames_num_min": 10,
         "sample_type": "unfixed_unordered"}, DA_TRANSFORM, eval_func="evaluate_Gait3D", with_test=True,
        save_name="GaitBase_DA"),
    "gaitbase/gaitbase_da_grew": _gaitbase(
        "GREW", 20000, 180000, 180000, [80000, 120000, 150000], 60000,
        {"batch_size": [32, 4], "frames_num_fixed": 30, "frames_num_max": 40, "frames_num_min": 20,
         "sample_type": "unfixed_unordered"}, DA_TRANSFORM, eval_func="GREW_submission", save_name="GaitBase_DA"),
    "gaitbase/gaitbase_ccpg": _gaitbase(
        "CCPG", 100, 60000, 60000, [20000, 40000, 50000], 60000,
        {"batch_size": [8, 16], "frames_num_fixed": 30, "frames_num_max": 50, "frames_num_min": 10,
         "sample_type": "fixed_unordered"}, [{"type": "BaseSilCuttingTransform", "img_w": 64}],
        eval_func="evaluate_CCPG", data_in_use=[True, False, False, False],
        eval_transform=[{"type": "BaseSilCuttingTransform", "img_w": 64}]),
    "gaitbase/gaitbase_casiae": _gaitbase(
        "CASIA-E", 200, 60000, 60000, [20000, 40000, 50000], 20000,
        {"batch_size": [8, 32], **FIXED_30}, [{"type": "BaseSilCuttingTransform"}]),
    "gaitbase/gaitbase_oumvlp": _gaitbase(
        "OUMVLP", 5153, 120000, 120000, [60000, 80000, 100000], 60000,
        {"batch_size": [32, 8], **FIXED_30}, [{"type": "BaseSilCuttingTransform"}]),
    "skeletongait/skeletongait++_CCPG": _skeletongait(
        "CCPG", 100, [1, 1, 1, 1], 60000, 30000, 60000, [20000, 30000, 40000], 10000, [8, 16], 30,
        "evaluate_CCPG"),
    "skeletongait/skeletongait++_GREW": _skeletongait(
        "GREW", 20000, [1, 4, 4, 1], 180000, 0, 180000, [80000, 120000, 150000], 30000, [32, 4], 30,
        "GREW_submission"),
    "skeletongait/skeletongait++_Gait3D": _skeletongait(
        "Gait3D", 3000, [1, 4, 4, 1], 60000, 0, 60000, [20000, 30000, 40000], 10000, [32, 4], 30,
        "evaluate_Gait3D", transform=SIL_DA, eval_transform=[{"type": "BaseSilTransform"}]),
    "skeletongait/skeletongait++_SUSTech1K": _skeletongait(
        "SUSTech1K", 250, [1, 1, 1, 1], 50000, 20000, 50000, [20000, 30000, 40000], 10000, [8, 8], 10,
        "evaluate_indoor_dataset", losses=(TRIPLET, SOFTMAX), num_workers=4),
}
CONFIGS["gaitbase/gaitbase_da_gait3d"]["trainer_cfg"]["transform"] = copy.deepcopy(DA_TRANSFORM)
CONFIGS["skeletongait/skeletongait++_CCPG"]["trainer_cfg"]["save_name"] = (
    "DeepGaitV2_P3D_GaitMap_B1C2_Sigma-8.0_Hot_False_Align-True_OpenGaitDA-True_ML_LowLevel")
CONFIGS["skeletongait/skeletongait++_SUSTech1K"]["trainer_cfg"]["with_test"] = False
