"""The contract of a number: what is predicted, from which neurons, how it is scored
and how it is recorded.

One module per concept:

- `neuronbench.protocol.datasets`: the registered datasets (entry point group
  ``neuronbench.datasets``): each one's `DatasetInfo` (tasks, supported settings,
  published protocol facts, labs) and `load_dataset`.
- `neuronbench.protocol.settings`: the four settings, the
  hashing that assigns recordings and neurons to pretraining / probe train / val / test,
  the split files and their checksums, and the group k-fold of ``neuronbench score``.
- `neuronbench.protocol.tasks`: the task (a dataset, a label column, its classes, the
  main metric and an optional unit filter) and a task's table of labelled neurons.
- `neuronbench.protocol.metrics`: macro-F1, accuracy, balanced accuracy, per-class F1,
  the confusion matrix, and each metric's chance levels.
- `neuronbench.protocol.scoring`: the one scorer: probes and metrics on one fold,
  predictions pooled over folds and averaged over probe seeds.
- `neuronbench.protocol.record`: the typed run record (build, validate, path, read and
  write, provenance, schema migration).
"""
