"""One family of expected errors (gaitcore/errors.py): every project error is a UserInputError,
every script's run_script turns any of them into one line and exit status 2, and the family's
module imports nothing."""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from gaitcore import errors
from gaitcore.cli import run_script

FAMILY = [errors.ConfigError, errors.CheckpointError, errors.ModelLoadError, errors.PretreatedFormatError,
          errors.RecordFileError, errors.VideoReadError, errors.PoseFileError]


def test_the_errors_module_imports_nothing():
    tree = ast.parse((REPO_ROOT / "gaitcore" / "errors.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_every_project_error_is_defined_once_in_the_family():
    defined = {}
    for path in sorted(REPO_ROOT.glob("*/**/*.py")):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                defined.setdefault(node.name, []).append(str(path.relative_to(REPO_ROOT)))
    for cls in [errors.UserInputError, *FAMILY]:
        assert defined.pop(cls.__name__) == ["gaitcore/errors.py"], cls
    # What remains are the operating-system-like errors (disk full, folder locked), the YAML
    # parser's duplicate-key error and the unsafe-pickle error, each a subclass of the library
    # error its callers already catch.
    assert sorted(defined) == ["DiskFullError", "DuplicateKeyError", "FolderLockedError", "UnsafePickleError"]


@pytest.mark.parametrize("cls", FAMILY)
def test_run_script_reports_each_error_in_one_line_with_status_2(cls, capsys):
    assert issubclass(cls, errors.UserInputError)

    def main(_):
        raise cls("data/x.yaml: the problem")
    assert run_script(main, None) == 2
    assert capsys.readouterr().err == "error: data/x.yaml: the problem\n"


def test_value_error_callers_still_catch_config_and_layout_errors():
    for cls in (errors.ConfigError, errors.PretreatedFormatError):
        with pytest.raises(ValueError):
            raise cls("x")
    assert not issubclass(errors.CheckpointError, errors.ConfigError)


def test_the_trainer_reports_a_missing_checkpoint_as_a_checkpoint_error(tmp_path):
    """End to end through main.py: a restore_hint naming no file is one line, status 2."""
    cfg = REPO_ROOT / "opengait" / "configs" / "gaitbase" / "gaitbase_synthetic.yaml"
    missing = tmp_path / "nowhere.pt"
    out = subprocess.run([sys.executable, "opengait/opengait/main.py", "--cfgs", str(cfg), "--phase", "test",
                          "--output_root", str(tmp_path), "--set", f"evaluator_cfg.restore_hint={missing}"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == f"error: restore_hint '{missing}': checkpoint {missing} not found"
