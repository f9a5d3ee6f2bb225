"""Experiments across runs: hyperparameter search (optuna), results tables, multi-run plots, seeded
comparisons with paired tests, interpretation of a trained classifier, and the learning-rate range test.

Modules are imported where used, so ``import trainlab.experiments`` stays light:

- :mod:`.search` ``run_search`` (with :mod:`.space`, :mod:`.storage`, :mod:`.trial`)
- :mod:`.synthesize` ``synthesize``; :mod:`.plots` ``plot_folder``
- :mod:`.compare` ``compare``
- :mod:`.interpret` ``Interpretation``, ``interpret``; :mod:`.lr_find` ``lr_find``
"""
