"""The loop's bookkeeping: one TensorBoard writer for training and testing during training,
and the loss read back from the device only at log_iter."""
from __future__ import annotations

import pytest
import torch

from conftest import read_scalars, run_script, write_config

TINY_GAITBASE = {"model": "GaitBase", "backbone_cfg": {"channels": [8, 16, 32, 64]},
                 "SeparateFCs": {"in_channels": 64, "out_channels": 32, "parts_num": 8},
                 "bin_num": [8]}


@pytest.mark.slow
def test_training_and_testing_during_training_share_one_event_file(pretreated_casia, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", pretreated_casia, TINY_GAITBASE,
                       data_cfg={"data_in_use": [False, True, False]},
                       trainer_cfg={"with_test": True, "total_iter": 4, "save_iter": 2, "log_iter": 2})
    run_script("opengait/opengait/main.py", "--cfgs", cfg, "--phase", "train", "--output_root", tmp_path / "out")
    summary = tmp_path / "out" / "synthetic" / "GaitBase" / "test_run" / "summary"
    events = list(summary.glob("events.out.tfevents.*"))
    assert len(events) == 1, events
    scalars = read_scalars(summary)
    assert sorted(scalars["scalar/softmax/loss"]) == [2, 4]                 # log_iter 2 of 4
    assert sorted(scalars["test_accuracy/NM"]) == [2, 4]                    # each save point


def test_loss_is_read_from_the_device_only_at_log_iter(monkeypatch, pretreated_casia, tmp_path):
    """Count Tensor.item() calls on the loss inside the loop: 6 iterations, log_iter 3 -> 2."""
    from accelerate import Accelerator

    from opengait.config import load_config
    from opengait.engine import trainer
    from opengait.modeling.losses import LossAggregator

    cfg_file = write_config(tmp_path / "d.yaml", pretreated_casia, TINY_GAITBASE,
                            data_cfg={"data_in_use": [False, True, False], "num_workers": 0},
                            trainer_cfg={"total_iter": 6, "save_iter": 6, "log_iter": 3})
    cfg = load_config(cfg_file)
    reads = []
    forward = LossAggregator.forward

    class CountedLoss(torch.Tensor):
        def item(self):
            reads.append(1)
            return super().item()

    def counted(self, feats):
        loss, info = forward(self, feats)
        return loss.as_subclass(CountedLoss), info
    monkeypatch.setattr(LossAggregator, "forward", counted)
    trainer.train(cfg, Accelerator(cpu=True), tmp_path / "run")
    assert len(reads) == 2
