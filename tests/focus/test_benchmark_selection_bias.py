"""benchmarks/worst_class.py's selection-bias control: only that script can make focus choose on the test split."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from trainlab.config import parse_config
from trainlab.errors import ConfigError
raw = {"data": {"name": "synthetic", "batch_size": 32, "args": {"samples": 192, "image_size": 8, "noise": 0.9}},
       "model": {"name": "mlp", "args": {"hidden_sizes": [16]}}, "train": {"epochs": 1, "count_flops": False},
       "logging": {"tensorboard": False, "plot": False, "progress": "none"}}
out = {}
try:
    parse_config({**raw, "focus": {"split": "test"}})
except ConfigError as e:
    out["focus_split_test"] = str(e)
try:
    parse_config({**raw, "focus_chosen_on_test": {"k": 1}})
except ConfigError as e:
    out["before_import"] = str(e)
sys.path.insert(0, sys.argv[1])
import worst_class
from trainlab.engine import Learner
from trainlab.engine.factory import learner_from_config
section = worst_class.CONFIGS["focus-1e-2-test"]["focus_chosen_on_test"]
learner = learner_from_config(parse_config({**raw, "focus_chosen_on_test": section})).fit(1)
focus = [cb for cb in learner.callbacks if type(cb).__name__ == "FocusCallback"]
row = learner.history.rows[0]
out.update(callbacks=len(focus), choose_on=focus[0].choose_on, penalty=focus[0].strategy.train_pass_args(),
           chosen_on=row.get("focus.chosen_on"), classes=row.get("focus.classes"))
print(json.dumps(out))
"""


def test_only_the_benchmark_can_choose_focus_classes_on_the_test_split():
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "benchmarks")], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)  # a fresh process: the benchmark's section stays out of this one
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "test split must never choose" in out["focus_split_test"]
    assert "focus_chosen_on_test" in out["before_import"]  # an unknown section for ordinary params files
    assert out["callbacks"] == 1 and out["choose_on"] == "test" and out["chosen_on"] == "test"
    assert len(out["classes"]) == 2
    # the original's penalty: gradients x 0.01, one optimizer state shared by both passes
    assert out["penalty"] == {"max_steps": None, "grad_scale": 0.01, "freeze_norm": True,
                              "restore_optimizer_state": False}
