"""NEMO (Yu et al., ICLR 2025): waveform + 3D-autocorrelogram contrastive embeddings.

Metadata only (no torch import): the model lives in `neuronbench_baselines.nemo.method`.
"""

from neuronbench.plugin import MethodInfo

_PAPER = {
    "acg_dim": 200, "wf_hidden": 600, "wf_dim": 300, "embed_dim": 512, "acg_dropout": 0.2, "wf_dropout": 0.1,
    "temperature": 0.5, "lr": 5e-4, "batch_size": 1024, "epochs": 3000, "restart_epochs": 20,
    "augment": True, "jitter_wrap": False,
    # torch CPU threads during fit and embed, in every preset: the thread count changes the
    # floating-point reduction order and so the numbers; fixed, a run gives the same
    # numbers in-process and in a Dask worker (on a GPU it only touches the CPU side).
    "threads": 1,
    "device": "auto",
}

INFO = MethodInfo(
    name="nemo",
    kind="baseline",
    summary="Peak-channel waveform and 3D autocorrelogram (10 rate deciles x 101 log lags) as two "
    "modalities, CLIP-style contrastive encoders; 500-d pre-projection embedding.",
    paper="Yu et al., In vivo cell-type and brain region classification via multimodal contrastive "
    "learning (NEMO), ICLR 2025",
    factory="neuronbench_baselines.nemo.method:NemoMethod",
    presets={
        "paper": _PAPER,
        # The published model; 100 epochs (5 warm-restart cycles) instead of 3000.
        "cpu": {**_PAPER, "epochs": 100},
        "tiny": {**_PAPER, "acg_dim": 16, "wf_hidden": 32, "wf_dim": 16, "embed_dim": 16, "batch_size": 64,
                 "epochs": 4, "restart_epochs": 2},
    },
    modalities=("spikes",),
    requires=("waveforms",),
    uses_torch=True,
    extras=("torch",),
    # the epochs; the warm-restart cycle stays the paper's 20 epochs
    budget_keys=("epochs",),
)
