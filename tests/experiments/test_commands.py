"""Each verb end to end through the CLI, on tiny runs; user errors are one line and exit code 2."""
import shutil

import numpy as np


def test_search_synthesize_and_plot(tmp_path, lab, cli):
    parent = lab.write(tmp_path / "s", lab.tiny(space={"optim.lr": [0.003, 0.03]}, sampler="grid"))
    code, out, err = cli("search", parent, "--test", "--no-plot")
    assert code == 0, err
    assert "2/2 trials (2 complete); 2 run now" in out and "best valid.accuracy" in out
    assert (parent / "lr=0.03" / "metrics_test.json").is_file()  # --test evaluated each trial
    assert not (parent / "history_plots.png").exists()
    code, out, err = cli("synthesize", parent)
    assert code == 0 and out.count("\n| lr=") == 2 and "test.accuracy" in out
    code, out, _ = cli("plot", parent)
    assert code == 0 and "history_plots.png" in out and (parent / "per_class_accuracy.png").is_file()
    code, out, _ = cli("plot", parent / "lr=0.03")
    assert code == 0 and (parent / "lr=0.03" / "training_history.png").is_file()


def test_evaluate_compare_interpret_lr_find(trained, tmp_path, lab, cli):
    exp = tmp_path / "exp"
    shutil.copytree(trained, exp)
    code, out, _ = cli("evaluate", exp)
    assert code == 0 and "predictions_test.npz" in out
    with np.load(exp / "predictions_test.npz") as f:
        assert f["pred"].shape == f["target"].shape == f["loss"].shape
    other = lab.write(tmp_path / "other", lab.tiny(epochs=1))
    code, out, err = cli("compare", exp, other, "--seeds", "2", "--set", "train.epochs=1")
    assert code == 0, err
    assert "| test accuracy |" in out and "## other vs exp" in out and (tmp_path / "compare.md").is_file()
    code, out, _ = cli("interpret", exp, "-k", "4")
    assert code == 0 and "## Top 4 losses" in out and (exp / "confusion_matrix.png").is_file()
    code, out, _ = cli("lr-find", exp, "--steps", "20", "--start", "1e-4", "--end", "1")
    assert code == 0 and "suggested lr (valley)" in out and (exp / "lr_find.png").is_file()


def test_user_errors_are_one_line(tmp_path, lab, cli):
    plain = lab.write(tmp_path / "plain", lab.tiny())
    for argv, message in [
        (("search", plain), "no search block"),
        (("search", plain, "--workers", "0"), "--workers must be >= 1"),
        (("compare", plain), "at least two experiments"),
        (("compare", plain, plain, "--seeds", "0"), "--seeds must be >= 1"),
        (("synthesize", plain), "no runs"),
        (("interpret", plain), "does not exist; train first"),
        (("lr-find", plain, "--start", "1", "--end", "0.1"), "need 0 < start < end"),
    ]:
        code, out, err = cli(*argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
