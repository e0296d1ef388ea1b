"""A third-party-style plug-in used by the tests: spies on what the harness hands it."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from neuronbench.plugin import MethodInfo

SEEN: dict[str, list] = {"fit": [], "embed": [], "labels": [], "steps": []}


class SpyMethod:
    """Embeds each unit by its spike count and log rate; records what it was given."""

    def __init__(self, dim: int = 2, fail: bool = False, die_once: str | None = None, steps: int = 1):
        self.dim = dim
        self.fail = fail
        self.die_once = die_once
        self.steps = steps  # training steps (the budget of `BUDGETED`): work that does not change the embedding

    def fit(self, recordings, *, seed, labels=None):
        if self.fail:
            raise RuntimeError("this method always fails")
        if self.die_once and not os.path.exists(self.die_once):
            open(self.die_once, "w").close()
            os._exit(1)  # the worker process dies mid-task, as a killed cluster job would
        SEEN["fit"].append([(r.recording, r.labels) for r in recordings])
        SEEN["labels"].append(None if labels is None else labels.copy())
        SEEN["steps"].append(self.steps)
        for _ in range(self.steps):
            np.linalg.svd(np.random.default_rng(seed).normal(size=(64, 64)))
        self.seed_ = seed
        return self

    def embed(self, recordings):
        rows = {}
        for r in recordings:
            SEEN["embed"].append((r.recording, r.labels))
            counts = r.spike_counts().astype(float)
            for nid, c in zip(r.neuron_ids, counts):
                rows[nid] = [c, np.log1p(c / r.duration)][: self.dim]
        return pd.DataFrame.from_dict(rows, orient="index")


INFO = MethodInfo(name="spy", kind="method", summary="test spy", factory="tests.plugin_example:SpyMethod",
                  presets={"cpu": {"dim": 2, "fail": False, "die_once": None}})
SUPERVISED = MethodInfo(name="spy-supervised", kind="baseline", summary="test spy", supervised=True,
                        factory="tests.plugin_example:SpyMethod", presets={"cpu": {"dim": 2, "fail": False, "die_once": None}})
FAILING = MethodInfo(name="spy-failing", kind="method", summary="always fails",
                     factory="tests.plugin_example:SpyMethod", presets={"cpu": {"dim": 2, "fail": True, "die_once": None}})
CALCIUM_ONLY = MethodInfo(name="spy-calcium", kind="baseline", summary="calcium only", modalities=("calcium",),
                          factory="tests.plugin_example:SpyMethod", presets={"cpu": {"dim": 2, "fail": False, "die_once": None}})
BUDGETED = MethodInfo(name="spy-budget", kind="method", summary="test spy with a training budget",
                      factory="tests.plugin_example:SpyMethod", budget_keys=("steps",),
                      presets={"cpu": {"dim": 2, "fail": False, "die_once": None, "steps": 3}})
