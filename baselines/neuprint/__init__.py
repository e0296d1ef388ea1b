"""NeuPRINT (Mi et al., NeurIPS 2023): per-neuron free embeddings learned with a
masked-reconstruction dynamics model of each neuron's activity given population
statistics and behaviour. Metadata only (no torch import): the model is in
`neuronbench_baselines.neuprint.method`."""

from neuronbench.plugin import MethodInfo

_PAPER = {
    "embedding_dim": 64, "d_model": 76, "n_heads": 2, "ffn_dim": 2048, "dropout": 0.1,
    "bin_s": 0.233, "window_len": 200, "n_windows": 2, "batch_neurons": 512, "mask_ratio": 0.25,
    "train_fraction": 0.75, "use_behaviour": True, "lr": 1e-3, "embedding_lr": 1e-3, "max_grad_norm": 1.0,
    "epochs": 400, "steps_per_epoch": 100, "val_steps": 100, "embed_steps": 770,
    # the original's training (its three quirks; our corrections are the other values)
    "reoptimize": "all", "forced_mask": "last_neuron", "population_stats": "all",
    "accumulate_grad_over_epoch": True,
    # torch CPU threads during fit and embed, in every preset: the thread count changes the
    # floating-point reduction order and so the numbers; fixed, a run gives the same
    # numbers in-process and in a Dask worker (on a GPU it only touches the CPU side).
    "threads": 1,
    "device": "auto",
}

INFO = MethodInfo(
    name="neuprint",
    kind="baseline",
    summary="Free per-neuron embeddings + a masked-reconstruction transformer of each neuron's activity "
    "given population mean/std and behaviour; new neurons embedded against the frozen model.",
    paper="Mi et al., Learning Time-Invariant Representations for Individual Neurons from Population "
    "Dynamics, NeurIPS 2023",
    factory="neuronbench_baselines.neuprint.method:NeuPRINT",
    presets={
        "paper": _PAPER,
        "cpu": {**_PAPER, "ffn_dim": 304, "window_len": 50, "n_windows": 1, "embedding_lr": 0.05, "epochs": 10,
                "steps_per_epoch": 40, "val_steps": 2, "embed_steps": 150},
        "tiny": {**_PAPER, "embedding_dim": 8, "d_model": 16, "ffn_dim": 64, "window_len": 32, "batch_neurons": 64,
                 "epochs": 2, "steps_per_epoch": 4, "val_steps": 1, "embed_steps": 4},
    },
    modalities=("spikes", "calcium"),
    uses_torch=True,
    extras=("torch",),
    # the training epochs (of steps_per_epoch steps each) and the test-time embedding steps
    budget_keys=("epochs", "embed_steps"),
)
