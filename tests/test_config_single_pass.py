"""load_config is the one place a config is checked: every bad value below is refused by it,
before a model, a dataset or a run folder exists, with one line naming the key."""
from __future__ import annotations

import json

import pytest

from conftest import REPO_ROOT, run_script
from gaitcore.errors import ConfigError
from opengait.config import load_config

GAITBASE = REPO_ROOT / "opengait/configs/gaitbase/gaitbase_synthetic.yaml"
HYBRID = REPO_ROOT / "opengait/configs/hybridgait/hybridgait_synthetic.yaml"
GAITGRAPH2 = REPO_ROOT / "opengait/configs/gaitgraph2/gaitgraph2_synthetic.yaml"


@pytest.mark.parametrize("config, item, named", [
    # the model's schema (its from_config), checked without building the model
    (GAITBASE, "model_cfg.SeparateFCs={in_channels: 512, out_channels: 256, parts_num: 16, bogus: 1}", "bogus"),
    (GAITBASE, "model_cfg.backbone_cfg={type: ResNet50}", "ResNet9"),
    (GAITBASE, "model_cfg.channels_last=1", "model_cfg.channels_last"),
    (HYBRID, "model_cfg.fusion=sum_of_everything", "fusion"),
    (GAITGRAPH2, "model_cfg.reductoin=8", "reduction"),           # the suggestion names the right key
    # losses and both sections' transforms
    (GAITBASE, "loss_cfg=[{type: TripletLoss, log_prefix: triplet, margni: 0.2}]", "margin"),
    (GAITBASE, "loss_cfg=[{type: TripletLoss, margin: 0.2}]", "log_prefix"),
    (GAITBASE, "trainer_cfg.transform=[{type: BaseSilCuttingTransform, cuttin: 10}]", "trainer_cfg.transform"),
    (GAITBASE, "evaluator_cfg.transform=[{type: NoSuchTransform}]", "NoSuchTransform"),
    # the precision of either section
    (GAITBASE, "trainer_cfg.mixed_precision=fp8", "trainer_cfg.mixed_precision"),
    (GAITBASE, "evaluator_cfg.mixed_precision=half", "evaluator_cfg.mixed_precision"),
    # the augmented share: its range, and the sampler it needs
    (GAITBASE, "trainer_cfg.sampler.augmented_share=1.5", "augmented_share"),
    (GAITBASE, "trainer_cfg.sampler={type: CommonSampler, batch_size: 8, augmented_share: 0.25, "
               "sample_type: fixed_unordered, frames_num_fixed: 10}", "TripletSampler only"),
    # the evaluator
    (GAITBASE, "evaluator_cfg.eval_func=evaluate_nothing", "evaluate_nothing"),
])
def test_bad_values_are_refused_at_load(config, item, named):
    with pytest.raises(ConfigError) as refused:
        load_config(config, [item])
    message = str(refused.value)
    assert named in message and "\n" not in message


def test_the_solver_is_checked_for_training_only():
    bad = ["optimizer_cfg={solver: SGD, lr: 0.1, momentun: 0.9}"]
    with pytest.raises(ConfigError, match="momentum"):
        load_config(GAITBASE, bad, phase="train")
    assert load_config(GAITBASE, bad, phase="test").optimizer["momentun"] == 0.9   # testing never builds it


def test_run_names_per_phase():
    with pytest.raises(ConfigError, match="trainer_cfg.save_name is empty"):
        load_config(GAITBASE, ["trainer_cfg.save_name=''"], phase="train")
    with pytest.raises(ConfigError, match="both empty"):
        load_config(GAITBASE, ["trainer_cfg.save_name=''", "evaluator_cfg.save_name=''"], phase="test")
    # OpenGait's fallback, applied once at load: the evaluator tests the trainer's run.
    cfg = load_config(GAITBASE, ["trainer_cfg.save_name=run_a", "evaluator_cfg.save_name=''"], phase="test")
    assert cfg.evaluator.save_name == "run_a"
    cfg = load_config(GAITBASE, ["trainer_cfg.save_name=run_a", "evaluator_cfg.save_name=run_b"])
    assert cfg.evaluator.save_name == "run_b"


def test_the_restored_iteration_is_applied_before_the_checks():
    cfg = load_config(GAITBASE, ["trainer_cfg.restore_hint=0"], restore_iter=300)
    assert cfg.trainer.restore_hint == 300 and cfg.evaluator.restore_hint == 300
    assert load_config(GAITBASE).trainer.restore_hint == 0            # 0: not given


def test_main_refuses_before_any_run_folder_exists(tmp_path):
    """The trainer's command line fails on a bad model key with one line and leaves nothing."""
    result = run_script("opengait/opengait/main.py", "--cfgs", GAITBASE, "--phase", "train",
                        "--output_root", tmp_path / "out", "--set", "model_cfg.bin_nums=[16]", check=False)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "bin_nums" in last and "bin_num" in last and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_loaded_config_is_frozen_typed_sections(tmp_path):
    """load_config returns the sections the loop, loaders, checkpointing and evaluators take;
    none of them can be changed afterwards, and as_dict() gives the YAML's plain shape back
    (what the run's config.yaml and a checkpoint keep: plain data that torch.load(weights_only)
    and yaml.safe_dump accept)."""
    import copy
    import pickle

    import yaml

    from opengait.settings import DataSettings, EvaluatorSettings, Settings, TrainerSettings
    settings = load_config(GAITBASE, ["trainer_cfg.total_iter=7", "data_cfg.num_workers=0"], phase="train")
    assert isinstance(settings, Settings)
    assert isinstance(settings.data, DataSettings) and isinstance(settings.trainer, TrainerSettings)
    assert isinstance(settings.evaluator, EvaluatorSettings)
    assert settings.trainer.total_iter == 7 and settings.data.num_workers == 0
    assert settings.model["model"] == "GaitBase" and settings.optimizer["solver"] == "SGD"
    with pytest.raises(AttributeError):
        settings.trainer.total_iter = 8                                  # frozen dataclass
    for change in (lambda: settings.model.__setitem__("model", "X"), lambda: settings.trainer.sampler.pop("type"),
                   lambda: settings.losses.append({}), lambda: settings.trainer.transform[0].update(type="X"),
                   lambda: settings.scheduler["milestones"].append(1)):
        with pytest.raises(TypeError, match="frozen"):
            change()
    plain = settings.as_dict()
    assert type(plain["model_cfg"]) is dict and type(plain["scheduler_cfg"]["milestones"]) is list
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain
    assert plain["trainer_cfg"]["total_iter"] == 7
    # frozen values survive the trip to DataLoader workers (pickle) and deep copies unchanged
    again = pickle.loads(pickle.dumps(settings))
    assert again == settings and copy.deepcopy(settings) == settings
    with pytest.raises(TypeError):
        again.model["model"] = "X"
    # the test dataset's name: test_dataset_name, else dataset_name (OpenGait's rule)
    assert settings.data.test_dataset == settings.data.dataset_name
    named = load_config(GAITBASE, ["data_cfg.test_dataset_name=CASIA-B"])
    assert named.data.test_dataset == "CASIA-B"


def test_the_training_set_checks_run_before_a_model_is_built(pretreated_casia, tmp_path, monkeypatch):
    """The sampler checks that need the data (P ids against the training ids, the frames asked
    per sequence, augmented_share without an AUGMENTED_SET) fail as soon as the set is read:
    no model is built, no checkpoint looked for, nothing written."""
    from accelerate import Accelerator
    from opengait.engine import trainer
    built = []
    monkeypatch.setattr(trainer, "build_model", lambda *a, **k: built.append(1))
    root = pretreated_casia
    base = [f"data_cfg.dataset_root={root / 'pretreated'}", f"data_cfg.dataset_partition={root / 'casia_b.json'}",
            "data_cfg.num_workers=0"]
    ids = len(json.loads((root / "casia_b.json").read_text())["TRAIN_SET"])
    for change, message in ((f"trainer_cfg.sampler.batch_size=[{ids + 1}, 2]", f"only {ids} ids"),
                            ("trainer_cfg.sampler.frames_num_fixed=100000", "frames_num_fixed: 100000"),
                            ("trainer_cfg.sampler.augmented_share=0.25", "no AUGMENTED_SET")):
        settings = load_config(GAITBASE, [*base, change])
        with pytest.raises(ConfigError, match=message):
            trainer.train(settings, Accelerator(cpu=True), tmp_path / "run")
    assert not built and not (tmp_path / "run").exists()
