"""The contract of a number: what is predicted, from which neurons, how it is scored
and how it is recorded.

One module per concept:

- `neuronbench.protocol.constants`: every constant of the evaluation (metrics and their
  names, probes and their hyperparameters, probe and encoder seeds, BWB's seeds, the
  paired bootstrap).
- `neuronbench.protocol.evaluator`: the `Evaluator`, the one authority the harness asks:
  metrics, a task's main metric, scoring a fold, curve points and folds, record matching.

- `neuronbench.protocol.settings`: the three settings, the published protocol facts of
  each dataset (held-out animals, development sessions, evaluated animals), the
  hashing that assigns recordings and neurons to pretraining / probe train / val / test,
  the split files and their checksums, and the group k-fold of ``neuronbench score``.
- `neuronbench.protocol.tasks`: the tasks (a dataset, a label column, its classes and
  the main metric) and a task's table of labelled neurons.
- `neuronbench.protocol.metrics`: macro-F1, accuracy, balanced accuracy, per-class F1,
  the confusion matrix, and each metric's chance levels.
- `neuronbench.protocol.scoring`: the one scorer: probes and metrics on one fold,
  predictions pooled over folds and averaged over probe seeds.
- `neuronbench.protocol.record`: the typed run record (build, validate, path, read and
  write, provenance, schema migration).
"""
