"""The core verbs (train, evaluate, summary, models, params, rejig, migrate), declared with
:func:`trainlab.verbs.verb`; each feature declares its own verbs in its ``verbs.py``."""
