"""Neuroevolution with shared weights: a population grown by function-preserving mutations, then ensembled.

After M. Painter, "Deep Neuroevolution with Shared Parameters: Ensembling a Better Solution"
(Stanford cs231n, 2018), with the transforms of "Towards a More Complete Theory of Function
Preserving Transforms" (Painter 2019, arXiv 2410.11038). A trained base network seeds the
population; each round keeps the top K members (:mod:`~trainlab.evolve.selection`: best or
diverse), refills to M by mutating survivors (:mod:`~trainlab.evolve.mutation`: widen, deepen,
learning rate; children inherit their parent's weights exactly), and trains every member a few
steps with the ordinary Learner; at the end the best E are ensembled
(:mod:`~trainlab.evolve.ensemble`: mean of softmax, vote, or a stacking head trained on the
validation split) and compared on test with the best member and an equal-FLOPs model trained
from scratch. Every individual is an experiment folder; ``population.json`` holds the state.

Example:
    >>> from trainlab.evolve import select_diverse
    >>> import numpy as np
    >>> select_diverse(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]]), 2)
    [0, 2]
"""
from ..lazy import lazy_exports

# imported on first use: `trainlab evolve --help` and the feature's registration must not import torch
lazy_exports(__name__, {
    "..morph.experiment": ["Birth", "write_transformed_experiment"],
    ".ensemble": ["StackingHead", "combine", "fit_stacking_head"],
    ".loop": ["evolve"],
    ".mutation": ["Mutation", "sample_mutation"],
    ".selection": ["select", "select_best", "select_diverse"],
    ".state": ["Member", "Population"],
    ".training": ["StopAfterSteps", "train_member"],
})
