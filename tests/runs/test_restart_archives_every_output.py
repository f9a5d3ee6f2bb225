"""``--restart`` archives every file any verb wrote into the experiment folder, so nothing describing the old model
stays beside the new run: each verb is run on one folder, every file it left must match an output some feature
declared (``trainlab.runs.declare_outputs``), and after a restart every one of them is in ``archive/<time>/``."""
import fnmatch
import json

from trainlab.cli import build_parser
from trainlab.runs import run_outputs
from trainlab.runs.lock import LOCK_FILE
from trainlab.verbs import declared_verbs

# how each verb that writes into EXP is run on the folder (EXP stands for it)
WRITES_INTO_EXP = {
    "train": ["train", "EXP"],
    "evaluate": ["evaluate", "EXP", "--split", "valid"],
    "summary": ["summary", "EXP", "--diagram"],
    "interpret": ["interpret", "EXP", "--split", "valid"],
    "lr-find": ["lr-find", "EXP", "--steps", "8"],
    "viz": ["viz", "EXP", "--what", "filters"],
    "export": ["export", "EXP", "--exporter", "legacy", "--verify-samples", "8"],
    "plot": ["plot", "EXP"],
}
# the verbs that write nothing into an experiment folder of a run, and why
ELSEWHERE = {
    "models": "prints", "params": "prints", "flops": "prints", "rejig": "writes DST", "migrate": "rewrites a params file",
    "predict": "writes --out and --save-vis where the user says", "inspect": "serves a page",
    "morph": "writes the new folder --out", "evolve": "its parent folder holds member folders, each a run",
    "search": "its parent folder holds trial folders, each a run", "synthesize": "writes results.* into PARENT",
    "compare": "trains seeds in EXP/seeds/<seed>/, each a run of its own (reused while the params match), and "
               "writes compare.md into the experiments' parent",
}


def test_every_verb_is_classified():
    build_parser()  # declares every verb
    verbs = {v.name for v in declared_verbs()}
    assert verbs == set(WRITES_INTO_EXP) | set(ELSEWHERE), "classify the new verb in this test"


def test_restart_moves_every_file_the_verbs_wrote(tmp_path, tiny_params, capsys):
    import shutil

    from trainlab.cli import main

    exp = tmp_path / "exp"
    exp.mkdir()
    tiny_params["data"]["args"] = {"samples": 128, "image_size": 8}
    tiny_params["model"] = {"name": "cnn_tiny"}
    tiny_params["train"]["epochs"] = 1
    tiny_params["logging"].update(tensorboard=True, plot=True)
    (exp / "params.json").write_text(json.dumps(tiny_params))
    verbs = {k: v for k, v in WRITES_INTO_EXP.items() if k != "summary" or shutil.which("dot")}
    for argv in verbs.values():
        assert main([str(exp) if a == "EXP" else a for a in argv]) == 0, argv
    capsys.readouterr()
    kept = ("params.json", LOCK_FILE)  # the params and the folder's lock stay where they are
    written = sorted(p.name for p in exp.iterdir() if p.name not in kept)
    patterns = run_outputs()
    undeclared = [name for name in written if not any(fnmatch.fnmatch(name, pat) for pat in patterns)]
    assert undeclared == [], "declare these outputs where they are written (trainlab.runs.declare_outputs)"
    assert {"checkpoints", "metrics_valid.json", "interpret.md", "lr_find.json", "viz", "export"} <= set(written)

    assert main(["train", str(exp), "--restart"]) == 0
    (stamp,) = (exp / "archive").iterdir()
    assert sorted(p.name for p in stamp.iterdir()) == written
    left = {p.name for p in exp.iterdir()} - {*kept, "archive"}
    assert not left & {"metrics_valid.json", "interpret.md", "lr_find.json", "viz", "export", "model.svg"}
