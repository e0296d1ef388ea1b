"""Every constant of the evaluation protocol, in one place (as ``ibl-bwb-eval`` keeps
its own): the metrics, the probes and their hyperparameters, the seeds, the paired
comparison. Code reads them through `neuronbench.protocol.evaluator.Evaluator` or
imports them from here; no other module defines them.

This module imports nothing.
"""

from __future__ import annotations

# ---------------------------------------------------------------- metrics

METRICS: tuple[str, ...] = ("macro_f1", "accuracy", "balanced_accuracy")
"""The scalar metrics every probe reports (`neuronbench.protocol.metrics`), in the
leaderboard's order."""

MAIN_METRIC = "macro_f1"
"""The default main metric of a task (``evaluation.md``, "Metrics: Primary"; NuCLR's
headline metric): every class counts equally however rare. A task may declare another
one of `METRICS` (`neuronbench.protocol.tasks.Task.main_metric`)."""

METRIC_NAMES: dict[str, str] = {"macro_f1": "macro-F1", "accuracy": "accuracy (top-1)",
                                "balanced_accuracy": "balanced accuracy"}
"""Each metric's name for people (captions, headings)."""

SUMMARY_METRICS: tuple[str, ...] = ("macro_f1", "accuracy")
"""The metrics ``neuronbench run`` prints for the headline runs of its grid (a curve
point: the main metric only)."""

METRIC_SHORT: dict[str, str] = {"macro_f1": "macro-F1", "accuracy": "accuracy",
                                "balanced_accuracy": "balanced accuracy"}
"""Each metric's short name (table columns)."""

# ---------------------------------------------------------------- probes

PROBES: tuple[str, ...] = ("linear", "mlp", "xgboost")
"""The probes, in the leaderboard's order (`neuronbench.probes`)."""

HEADLINE_PROBE = "linear"
"""The probe of the headline numbers (the papers' linear probe)."""

DETERMINISTIC_PROBES: tuple[str, ...] = ("linear",)
"""Probes that run once (first probe seed): their result does not depend on the seed."""

PROBA_DECIMALS = 6
"""Stored class probabilities are rounded (a record stays small; argmax is ``y_pred``)."""

TIE_TOL: float = 1e-12
"""Validation macro-F1 scores closer than this are a tie (-> the earlier grid point)."""

LINEAR_C_GRID: tuple[float, ...] = (0.01, 0.1, 1, 10)
"""Inverse regularisation strengths the linear probe chooses from on validation."""

LINEAR_DEFAULT_C: float = 1.0
"""C of the linear probe when no validation set is given (NuCLR's probe)."""

LINEAR_MAX_ITER = 10000
LINEAR_TOL: float = 1e-8
"""lbfgs stopping tolerance of the linear probe (scikit-learn's default 1e-4 stops at a
machine-dependent point; see `neuronbench.probes`)."""

MLP_HIDDEN_GRID: tuple[int, ...] = (64, 256)
MLP_ALPHA_GRID: tuple[float, ...] = (1e-4, 1.0)
MLP_MAX_EPOCHS = 200
MLP_PATIENCE = 10
MLP_BATCH_SIZE = 128
MLP_LEARNING_RATE = 1e-3
MLP_TOL: float = 1e-4
"""Smallest decrease of the validation loss that counts as an improvement (MLP probe)."""

MLP_INTERNAL_VAL_FRACTION: float = 0.2
"""Share of each class the MLP probe holds out for early stopping when no validation
set is given."""

XGB_MAX_DEPTH_GRID: tuple[int, ...] = (2, 4)
XGB_N_ESTIMATORS_GRID: tuple[int, ...] = (100, 300)
XGB_LEARNING_RATE = 0.1
XGB_MAX_BIN = 32
"""Histogram bins per feature (xgboost's default 256; 32 is about 2x faster, with no
loss of test macro-F1 seen on synthetic 64-d embeddings)."""

# ---------------------------------------------------------------- training budget

HEADLINE_BUDGET: float = 1.0
"""The training budget of the headline runs: each method's preset as it is. ``--budget B``
multiplies the training counts a method declares (`neuronbench.plugin.MethodInfo.budget_keys`)
by B, each rounded to the nearest integer (halves up) and at least 1; its records are
points of the budget curve, never headline cells."""

# ---------------------------------------------------------------- seeds

PROBE_SEEDS: tuple[int, ...] = (0, 1, 2)
"""The seeds of the stochastic probes (``evaluation.md``, "Seeds and variance")."""

ENCODER_SEEDS: tuple[int, ...] = (0, 1, 2)
"""The default encoder (pretraining) seeds of a grid."""

BWB_EVAL_SEEDS: tuple[int, ...] = (43, 44, 45, 46, 47)
"""BrainWideBench's reported encoder seeds (`neuronbench.protocol.bwb`)."""

BWB_SWEEP_SEED = 42
"""BrainWideBench's tuning seed: for tuning only, never reported."""

BWB_METRIC = "macro_f1"
"""The metric BrainWideBench TS3 reports (the main metric of ``ibl/region_bwb``)."""

# ---------------------------------------------------------------- paired comparison

N_BOOT = 1000
"""Bootstrap replicates of a paired difference (`neuronbench.protocol.paired`)."""

BOOTSTRAP_SEED = 0
"""Fixed, so that the same predictions always give the same interval."""

LEVEL = 0.95
"""Confidence level of a paired difference's interval."""
