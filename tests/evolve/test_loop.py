import json

import pytest
import torch

from tests.conftest import write_exp
from trainlab import cli
from trainlab.config import load_config
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.errors import ConfigError
from trainlab.evolve import final, loop
from trainlab.evolve.state import Population


def params(**evolve):
    ev = {"population": 3, "keep": 2, "rounds": 2, "steps_per_round": 4, "baseline": False,
          "mutations": {"widen": {"p": 0.5}, "deepen": {"p": 0.5, "stages": ["block2"]}, "lr": {"p": 0.2}},
          "ensemble": {"size": 2, "steps": 50}} | evolve
    return {"data": {"name": "digits", "batch_size": 128}, "model": {"name": "cnn_tiny", "args": {"width": 8}},
            "optim": {"name": "adam", "lr": 0.003}, "train": {"epochs": 1, "seed": 0, "device": "cpu"},
            "logging": {"tensorboard": False, "plot": False, "progress": "none"}, "evolve": ev}


FULL = dict(baseline=True, selection="diverse", ensemble={"size": 2, "combine": "stacking", "steps": 50})


def summary(pop: Population) -> list[tuple]:
    return [(m.id, m.parent, m.mutation, m.alive, m.step, m.params, round(m.valid_accuracy, 6))
            for m in pop.members.values()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One full evolution through the CLI (with the equal-FLOPs baseline and a stacking ensemble)."""
    parent = write_exp(tmp_path_factory.mktemp("evo") / "p", params(**FULL))
    seen = {}
    real_fit = final.fit_stacking_head

    def spy(logits, targets, **kw):
        seen["logits"], seen["targets"] = logits.clone(), targets.clone()
        return real_fit(logits, targets, **kw)

    final.fit_stacking_head = spy
    try:
        assert cli.main(["evolve", str(parent)]) == 0
    finally:
        final.fit_stacking_head = real_fit
    return parent, Population.load(parent), seen


def test_outputs_and_lineage_are_consistent(run):
    parent, pop, _ = run
    for name in ("evolution.md", "lineage.png", "metrics_evolve_test.json", "ensemble_head.pt", "baseline/params.json"):
        assert (parent / name).exists(), name
    assert pop.phase == "done" and len(pop.rounds) == 2
    members = pop.members
    assert len(pop.alive()) == 3 and members["m000"].parent is None
    for r in pop.rounds:  # each round trains exactly M members, K of them survivors of the round before
        assert len(r["members"]) == 3
        assert len(r["born"]) == (2 if r["round"] == 1 else 1)
    for m in members.values():
        if m.parent is not None:
            p = members[m.parent]
            assert p.born_round < m.born_round and p.trained_round >= m.born_round - 1
            assert m.inherited_flops <= p.lineage_flops
        rounds_trained = min(m.died_round or 3, 3) - max(m.born_round, 1)
        assert m.step == 4 * rounds_trained == len(m.history) * 4
        hist = json.loads((parent / m.dir / "history.json").read_text())["rows"]
        assert len(hist) == rounds_trained and hist[-1]["valid.accuracy"] == pytest.approx(m.valid_accuracy)
        assert m.train_flops == pytest.approx(hist[-1]["train_flops"])
        assert m.birth_delta <= 1e-4
        cfg = load_config(parent / m.dir)
        assert cfg.evolve is None and sum(s.op == "widen" or s.op == "deepen" for s in cfg.model.morph) == \
            sum(members[a].kind in ("widen", "deepen") for a in _ancestry(members, m.id))
    # every member is validated on the base's split but trains with its own seed (siblings differ)
    cfgs = [load_config(parent / m.dir) for m in members.values()]
    assert all(c.data.split_seed == 0 for c in cfgs)
    assert len({c.train.seed for c in cfgs}) == len(cfgs)
    assert pop.total_train_flops() == pytest.approx(pop.base_flops + sum(m.train_flops for m in members.values()))
    res = json.loads((parent / "metrics_evolve_test.json").read_text())
    assert res["baseline_train_flops"] >= pop.total_train_flops()
    assert len(res["ensemble"]["per_class_accuracy"]) == 10 and 0.3 < res["ensemble"]["accuracy"] <= 1


def _ancestry(members, mid):
    out = []
    while mid is not None:
        out.append(mid)
        mid = members[mid].parent
    return out


def test_stacking_head_is_trained_on_the_validation_split_only(run):
    parent, pop, seen = run
    cfg = load_config(parent)
    from trainlab.data import data_from_config

    data = data_from_config(cfg.data, seed=0)
    assert torch.equal(seen["targets"], torch.as_tensor(data.valid.labels))
    picked = pop.results["ensemble_members"]
    expected = torch.stack([torch.load(parent / "members" / i / "evolve_valid_logits.pt") for i in picked])
    assert torch.equal(seen["logits"], expected)
    assert load_checkpoint(parent / "ensemble_head.pt")["members"] == picked


def test_resume_after_a_kill_continues_the_same_round(run, tmp_path, monkeypatch):
    whole = run[1]  # the uninterrupted run of the fixture, same params
    cut = write_exp(tmp_path / "cut", params(**FULL))
    real, calls = loop.train_member, []

    def dies_in_round_two(member_dir, steps, *a):
        calls.append(member_dir)
        if len(calls) == 5:  # round 1 trains 3 members; die at the 2nd member of round 2
            raise KeyboardInterrupt
        return real(member_dir, steps, *a)

    monkeypatch.setattr(loop, "train_member", dies_in_round_two)
    with pytest.raises(KeyboardInterrupt):
        loop.evolve(cut, load_config(cut))
    mid = Population.load(cut)
    assert mid.round == 2 and mid.phase == "train" and len(mid.members) == 4
    assert [m.trained_round for m in mid.alive()].count(2) == 1  # one member of round 2 was done before the kill
    monkeypatch.setattr(loop, "train_member", real)
    done = loop.evolve(cut, load_config(cut))
    assert len(calls) == 5  # the resumed run did not retrain the finished member
    assert summary(done) == summary(whole)
    assert done.results["ensemble"]["accuracy"] == whole.results["ensemble"]["accuracy"]
    with pytest.raises(ConfigError, match="evolve settings changed"):
        loop.evolve(cut, load_config(cut, ["evolve.rounds=3"]))


@pytest.mark.slow
def test_parallel_workers_train_the_same_population(run, tmp_path):
    par = write_exp(tmp_path / "par", params(**FULL))
    assert summary(loop.evolve(par, load_config(par), workers=2)) == summary(run[1])
