"""LOLCAT (Schneider et al., Cell Reports 2023): supervised snippet-ISI-histogram model.

Metadata only (no torch import): the model lives in `neuronbench_baselines.lolcat.method`.

Presets: ``paper`` as the authors' Neuropixels training script (``hengenlab/lolcat``,
branch ``mehdi_branch``, ``np_dg3_nm3_latest_newdata_testing.py``): 64-bin log-ISI
histograms, the published network, 1000 epochs, adaptive per-epoch oversampling (their
calcium runs: 90-bin linear histograms, same training). ``cpu``: the same, with a
40-epoch schedule (lr 1e-2 until epoch 30, then 1e-3; the published one spends only its
first 10 of 1000 epochs at 1e-2, and cut in the same proportions it would barely train:
see `neuronbench_baselines.lolcat.method`). ``tiny``: a few epochs for tests.
"""

from neuronbench.plugin import MethodInfo

_PAPER = {
    # input (features.py)
    "snippet_s": 3.0, "spike_histogram": "log", "spike_bins": 64,
    "calcium_histogram": "linear", "calcium_bins": 90, "add_onset": False,
    "event_threshold": 3.0, "event_decay_s": 1.0,
    # network (model.py)
    "encoder_sizes": (32, 16, 16, 16), "heads": 4, "head_dim": 8, "classifier_hidden": 16,
    "dropout": 0.5, "batchnorm": True,
    # training (method.py, sampling.py)
    "snippet_dropout": 0.4, "batch_size": 128, "lr": 1e-2, "weight_decay": 1e-4,
    "epochs": 1000, "milestones": (10, 100, 400), "gamma": 0.1, "adaptive_oversampling": True, "val_fraction": 0.2,
    "eval_batch_size": 512,
    # torch CPU threads during fit and embed, in every preset: the thread count changes the
    # floating-point reduction order and so the numbers; fixed, a run gives the same
    # numbers in-process and in a Dask worker (on a GPU it only touches the CPU side).
    "threads": 1,
    "device": "auto",
}

INFO = MethodInfo(
    name="lolcat",
    kind="baseline",
    summary="Supervised on probe-train labels: 3 s snippet ISI (calcium: inter-event) histograms -> "
    "MLP -> 4-head attention pooling -> 32-d neuron embedding (what the probe reads) -> classifier.",
    paper="Schneider et al., Transcriptomic cell type structures in vivo neuronal activity across "
    "multiple timescales, Cell Reports 2023",
    factory="neuronbench_baselines.lolcat.method:Lolcat",
    presets={
        "paper": _PAPER,
        "cpu": {**_PAPER, "epochs": 40, "milestones": (30,)},
        "tiny": {**_PAPER, "epochs": 4, "milestones": (10,), "batch_size": 32},
    },
    modalities=("spikes", "calcium"),
    supervised=True,
    uses_torch=True,
    extras=("torch",),
    # the epochs and the epochs of its learning-rate steps: the schedule keeps its shape
    budget_keys=("epochs", "milestones"),
)
