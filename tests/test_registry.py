"""One registry mechanism for models, losses, transforms and evaluators, and config plugins."""
import sys
import textwrap

import pytest
import torch

from opengait.config import ConfigError, load_config
from opengait.data.transforms import build_transform
from opengait.evaluation.evaluators import get_evaluator
from opengait.modeling.losses import LossAggregator
from opengait.modeling.registry import model_class
from opengait.registry import Registry


def test_unknown_names_list_the_known_and_suggest_the_closest():
    with pytest.raises(ConfigError, match=r"model_cfg.model: unknown model 'GaitBse' .*did you mean 'GaitBase'"):
        model_class("GaitBse")
    with pytest.raises(ConfigError, match=r"loss_cfg\[0\]: unknown loss 'TripletLos' .*TripletLoss"):
        LossAggregator([{"type": "TripletLos", "log_prefix": "triplet"}])
    with pytest.raises(ConfigError, match=r"t: unknown transform 'NoOp' \(known: .*NoOperation"):
        build_transform([{"type": "NoOp"}], "t")
    with pytest.raises(ConfigError, match="evaluator_cfg.eval_func: unknown evaluator 'evaluate_grw'"):
        get_evaluator("evaluate_grw")


def test_registering_a_name_twice_is_an_error():
    reg = Registry("thing", "x.type")

    @reg.register("alias")
    class A:
        pass
    assert reg.get("A") is A and reg.get("alias") is A and reg.names() == ["A", "alias"]
    with pytest.raises(ValueError, match="thing name 'alias' is registered twice"):
        @reg.register("alias")
        class B:
            pass


@pytest.mark.fault_injection
def test_an_installed_plugin_registers_a_loss_and_a_config_cannot_import_a_module(tmp_path, monkeypatch):
    """A plugin is a module an installed package declares in the entry-point group
    hybridgait.plugins (here a distribution's metadata written beside the module); a config's
    plugins list names only those, so a .py in the working folder is never imported."""
    from opengait import registry
    (tmp_path / "my_plugin_losses.py").write_text(textwrap.dedent("""
        import torch
        from opengait.modeling.losses import LOSSES

        @LOSSES.register()
        class MeanLoss(torch.nn.Module):
            def __init__(self, loss_term_weight=1.0):
                super().__init__()
                self.loss_term_weight = loss_term_weight

            def forward(self, embeddings, labels):
                loss = embeddings.mean()
                return loss, {"loss": loss.detach()}
        """))
    (tmp_path / "rogue.py").write_text("raise SystemExit('a config ran me')\n")
    dist = tmp_path / "my_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[hybridgait.plugins]\nmylosses = my_plugin_losses\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    assert registry.installed_plugins()["mylosses"] == "my_plugin_losses"
    cfg_file = tmp_path / "cfg.yaml"
    for name in ("mylosses", "my_plugin_losses"):          # the entry-point name or its module
        cfg_file.write_text(f"plugins: [{name}]\n"
                            "loss_cfg: [{type: MeanLoss, log_prefix: triplet}]\n"
                            "model_cfg: {model: GaitBase}\n")
        cfg = load_config(cfg_file)
    assert "my_plugin_losses" in sys.modules
    agg = LossAggregator(cfg.losses)
    feats = {"triplet": {"embeddings": torch.tensor([[1.0, 2.0], [3.0, 6.0]]), "labels": torch.tensor([0, 1])}}
    loss, _ = agg(feats)
    assert loss.item() == pytest.approx(3.0)          # (1 + 2 + 3 + 6) / 4

    for name in ("rogue", "no_such_plugin_module"):
        cfg_file.write_text(f"plugins: [{name}]\n")
        with pytest.raises(ConfigError, match=f"plugins: '{name}' is not an installed plugin"):
            load_config(cfg_file)
    assert "rogue" not in sys.modules
    cfg_file.write_text("plugins: no_such_plugin_module\n")
    with pytest.raises(ConfigError, match="plugins: 'no_such_plugin_module', expected a list"):
        load_config(cfg_file)
