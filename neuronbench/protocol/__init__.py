"""The contract of a number: what is predicted, from which neurons, and how it is scored.

One module per concept:

- `neuronbench.protocol.settings`: the three settings, the published protocol facts of
  each dataset (held-out animals, development sessions, evaluated animals), the
  hashing that assigns recordings and neurons to pretraining / probe train / val / test,
  the split files and their checksums, and the group k-fold of ``neuronbench score``.
- `neuronbench.protocol.tasks`: the tasks (a dataset, a label column, its classes and
  the main metric) and a task's table of labelled neurons.

Layer rule: the protocol imports only the foundation (`neuronbench.errors`,
`neuronbench.atomic`) and `neuronbench.data`; never the harness (plug-in API, probes,
runner, executors, leaderboard, command line, registry) nor any plug-in. Importing this
package imports nothing heavy: listing settings and tasks stays instant.
"""
