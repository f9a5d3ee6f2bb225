import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainlab.data.splits import stratified_split


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(1, 60), min_size=1, max_size=6), fraction=st.floats(0.05, 0.9),
       seed=st.integers(0, 10))
def test_exact_per_class_counts_and_partition(counts, fraction, seed):
    targets = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    keep, carved = stratified_split(targets, fraction, seed)
    assert sorted(keep.tolist() + carved.tolist()) == list(range(len(targets)))
    for c, n in enumerate(counts):
        assert int((targets[carved] == c).sum()) == int(round(n * fraction))


def test_seed_changes_choice_not_counts():
    targets = torch.arange(200) % 4
    a = stratified_split(targets, 0.1, 0)[1]
    assert torch.equal(a, stratified_split(targets, 0.1, 0)[1])
    b = stratified_split(targets, 0.1, 1)[1]
    assert len(a) == len(b) and not torch.equal(a, b)
