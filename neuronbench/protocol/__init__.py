"""The evaluation protocol: the contract of every number the benchmark reports."""
