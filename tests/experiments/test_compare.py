import json
from pathlib import Path

import numpy as np
import pytest

from trainlab.engine.history import History
from trainlab.errors import ConfigError
from trainlab.experiments.compare import SeedRun, compare, pair_tests
from trainlab.runs import evaluate_checkpoint, read_predictions
from trainlab.stats import mcnemar_exact, paired_test


def seed_run(seed, correct, targets=None):
    targets = np.arange(len(correct)) % 3 if targets is None else targets
    pred = np.where(correct, targets, (targets + 1) % 3)
    per_class = [float(np.mean(np.asarray(correct)[targets == c])) if np.any(targets == c) else 0.0 for c in range(3)]
    support = [int(np.sum(targets == c)) for c in range(3)]
    return SeedRun(Path("x"), seed, Path("x"), {"accuracy": float(np.mean(correct)),
                                                 "per_class": {"accuracy": per_class, "support": support}},
                   {"pred": pred, "target": targets, "loss": np.zeros(len(correct))}, History(), reused=True)


def test_pair_tests_use_mcnemar_per_seed_and_paired_tests_across_seeds():
    rng = np.random.default_rng(0)
    a = [seed_run(s, rng.random(200) < 0.7) for s in range(4)]
    b = [seed_run(s, rng.random(200) < 0.9) for s in range(4)]
    out = pair_tests(a, b)
    for m, ra, rb in zip(out["mcnemar"], a, b):
        expected = mcnemar_exact(ra.predictions["pred"] == ra.predictions["target"],
                                 rb.predictions["pred"] == rb.predictions["target"])
        assert (m["only_a"], m["only_b"], m["p_value"]) == (expected.only_a, expected.only_b, expected.p_value)
    acc_a, acc_b = [r.metrics["accuracy"] for r in a], [r.metrics["accuracy"] for r in b]
    assert out["t_p"] == paired_test(acc_a, acc_b, "t") and out["wilcoxon_p"] == paired_test(acc_a, acc_b, "wilcoxon")
    assert out["mean_difference"] == pytest.approx(np.mean(acc_b) - np.mean(acc_a))
    assert out["t_p"] < 0.05  # 70% vs 90% on 200 examples: a real difference
    low, high = out["interval"]
    assert 0 < low < out["mean_difference"] < high  # the t interval excludes 0 when the t-test rejects
    worst_a, worst_b = [r.worst_class_accuracy for r in a], [r.worst_class_accuracy for r in b]
    assert worst_a == [min(r.metrics["per_class"]["accuracy"]) for r in a]
    assert out["worst"]["mean_difference"] == pytest.approx(np.mean(worst_b) - np.mean(worst_a))
    assert out["worst"]["t_p"] == paired_test(worst_a, worst_b, "t")


def test_worst_class_ignores_classes_absent_from_the_split():
    run = seed_run(0, np.ones(4, bool), np.array([0, 0, 1, 1]))  # class 2 has no samples (accuracy 0 recorded)
    assert run.metrics["per_class"]["accuracy"][2] == 0.0 and run.worst_class_accuracy == 1.0


def test_mcnemar_is_skipped_when_the_examples_differ():
    a = [seed_run(0, np.ones(10, bool), np.zeros(10, int))]
    b = [seed_run(0, np.ones(10, bool), np.ones(10, int))]
    out = pair_tests(a, b)
    assert out["mcnemar"] == [{"seed": 0, "same_examples": False}] and "t_p" not in out


def test_compare_trains_seeds_reuses_them_and_reports(tmp_path, lab):
    a = lab.write(tmp_path / "a", lab.tiny(epochs=2))
    b_params = lab.tiny(epochs=2)
    b_params["optim"]["lr"] = 1e-4
    b = lab.write(tmp_path / "b", b_params)
    result = compare([a, b], [0, 1])
    assert result.path == tmp_path / "compare.md" and result.path.read_text() == result.markdown
    for exp in (a, b):
        for s in (0, 1):
            folder = exp / "seeds" / f"seed-{s}"
            params = json.loads((folder / "params.json").read_text())
            assert params["train"]["seed"] == s and (folder / "predictions_test.npz").is_file()
    runs_a = result.runs["a"]
    accs = [r.metrics["accuracy"] for r in runs_a]
    md = result.markdown
    assert f"{np.mean(accs):.4f} ± {np.std(accs, ddof=1):.4f}" in md
    assert "## b vs a" in md and "Wilcoxon" in md and "t-test p =" in md
    t = result.tests[0]
    row = next(line for line in md.splitlines() if line.startswith("| b | "))
    low, high = t["worst"]["interval"]
    assert f"{100 * t['worst']['mean_difference']:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]" in row
    assert "best.pt (chosen on validation)" in md
    pred = read_predictions(a / "seeds" / "seed-0")
    assert np.mean(pred["pred"] == pred["target"]) == pytest.approx(accs[0])
    per_class = md.split("## Per-class")[1].split("##")[0]
    assert sum(line.startswith("|") for line in per_class.splitlines()) == 2 + 4  # header + 4 classes
    stamp = (a / "seeds" / "seed-1" / "checkpoints" / "best.pt").stat().st_mtime_ns
    again = compare([a, b], [0, 1], train=False)
    assert all(r.reused for runs in again.runs.values() for r in runs)
    assert (a / "seeds" / "seed-1" / "checkpoints" / "best.pt").stat().st_mtime_ns == stamp
    assert again.markdown == result.markdown
    with pytest.raises(ConfigError, match="no finished run"):
        compare([a, b], [2], train=False)
    last = compare([a, b], [0, 1], checkpoint="last")  # evaluated again from last.pt, not retrained
    assert (a / "seeds" / "seed-1" / "checkpoints" / "best.pt").stat().st_mtime_ns == stamp
    assert not any(r.reused for r in last.runs["a"]) and "last.pt (the final epoch)" in last.markdown
    metrics = json.loads((a / "seeds" / "seed-0" / "metrics_test.json").read_text())
    assert metrics["checkpoint"].endswith("last.pt")
    assert all(r.reused for r in compare([a, b], [0, 1], checkpoint="last", train=False).runs["a"])
    with pytest.raises(ConfigError, match="at least two"):
        compare([a], [0])


def test_evaluate_writes_predictions_that_match_the_metrics(trained, tmp_path):
    ev = evaluate_checkpoint(trained / "checkpoints" / "best.pt", tmp_path, split="valid")
    with np.load(ev.predictions_path) as f:
        pred, target, loss = f["pred"], f["target"], f["loss"]
    assert ev.metrics_path == tmp_path / "metrics_valid.json"
    assert np.mean(pred == target) == pytest.approx(ev.metrics["accuracy"])
    assert float(loss.mean()) == pytest.approx(ev.metrics["loss"], rel=1e-4)
    cm = np.array(ev.metrics["confusion_matrix"])
    assert np.array_equal(cm, np.bincount(target * 4 + pred, minlength=16).reshape(4, 4))


def test_a_missing_experiment_is_refused_before_any_seed_trains(tmp_path, lab, cli):
    a = lab.write(tmp_path / "a", lab.tiny())
    code, _, err = cli("compare", a, tmp_path / "missing", "--seeds", "1")
    assert code == 2 and "missing" in err and "does not exist" in err
    assert not (a / "seeds").exists()


def test_the_per_class_comparison_plot_shows_paired_differences(tmp_path):
    from types import SimpleNamespace

    from trainlab.experiments.plots import plot_comparison_per_class

    rng = np.random.default_rng(1)
    runs = {"a": [seed_run(s, rng.random(300) < 0.7) for s in range(3)],
            "b": [seed_run(s, rng.random(300) < 0.8) for s in range(3)]}
    result = SimpleNamespace(names=["a", "b"], seeds=[0, 1, 2], runs=runs, class_names=["x", "y", "z"])
    path = plot_comparison_per_class(result, tmp_path / "per_class.png")
    assert path.stat().st_size > 5000 and path.read_bytes()[:4] == b"\x89PNG"


def test_more_than_two_experiments_report_holm_adjusted_p_values_beside_the_raw_ones():
    from trainlab.experiments.compare import adjust_for_multiple_tests, summary
    from trainlab.stats import holm

    rng = np.random.default_rng(2)
    runs = {name: [seed_run(s, rng.random(300) < rate) for s in range(4)]
            for name, rate in (("base", 0.7), ("b", 0.75), ("c", 0.9))}
    tests = [{"a": "base", "b": n, **pair_tests(runs["base"], runs[n])} for n in ("b", "c")]
    adjust_for_multiple_tests(tests)
    raw = [t["t_p"] for t in tests]
    assert [t["t_p_holm"] for t in tests] == holm(raw) and min(raw) < min(t["t_p_holm"] for t in tests)
    assert [t["worst"]["wilcoxon_p_holm"] for t in tests] == holm([t["worst"]["wilcoxon_p"] for t in tests])
    lines = summary(["base", "b", "c"], runs, tests, "test")
    assert "(Holm)" in lines[0]
    row = next(line for line in lines if line.startswith("| c |"))
    assert f"({tests[1]['t_p_holm']:.2g} / {tests[1]['wilcoxon_p_holm']:.2g})" in row
    two = [{"a": "base", "b": "c", **pair_tests(runs["base"], runs["c"])}]
    assert "(Holm)" not in summary(["base", "c"], runs, two, "test")[0]  # one comparison: nothing to adjust


def test_runs_evaluated_on_other_samples_are_flagged_and_valid_splits_stated():
    from trainlab.experiments.compare import splits_note, summary

    a, b = seed_run(0, np.ones(30, bool)), seed_run(0, np.ones(30, bool))
    a.metrics["fingerprint"], b.metrics["fingerprint"] = "aaaa", "bbbb"  # same targets, other samples
    a.splits, b.splits = {"valid": "v1"}, {"valid": "v2"}
    tests = [{"a": "a", "b": "b", **pair_tests([a], [b])}]
    assert tests[0]["mcnemar"] == [{"seed": 0, "same_examples": False}] and not tests[0]["same_valid"]
    note = "\n".join(splits_note(["a", "b"], {"a": [a], "b": [b]}, tests, "test"))
    assert "2 different ones" in note and "different validation samples" in note
    assert "evaluated on different test samples" in note
    assert "⚠ other samples" in summary(["a", "b"], {"a": [a], "b": [b]}, tests, "test")[-1]
    b.splits, b.metrics["fingerprint"] = {"valid": "v1"}, "aaaa"
    tests = [{"a": "a", "b": "b", **pair_tests([a], [b])}]
    assert splits_note(["a", "b"], {"a": [a], "b": [b]}, tests, "test")[0] == \
        "Validation split: one for every run (fingerprint v1)."
