"""The learning code, free of Django: the features (one definition, an offline and an online
evaluator), the training protocol and its candidates, evaluation, what thresholds mean, the fast
tree evaluator and the simulator. It works on pandas frames and numpy arrays; the bank's
choices come in as arguments (`options.LearningOptions`), never from settings, so it runs in a
notebook, a benchmark or a worker alike. import-linter keeps Django and our apps out of it.
"""
