"""NeurPIR (Wu et al., ICLR 2025): metadata only; the model is in `neuronbench_methods.neurpir.method`
(importing this package imports neither torch nor cebra).

Two registered names share one implementation: ``neurpir`` (with the CEBRA-encoded
surrounding information) and ``neurpir-nocebra`` (the ablation without it), so the
leaderboard shows what the surrounding information adds.
"""

from neuronbench.plugin import MethodInfo

PAPER: dict = {
    # published: VICReg 25 / 25 / 1, variance target 1, eps 1e-4, 3-layer 1024-wide expander
    "invariance_weight": 25.0, "variance_weight": 25.0, "covariance_weight": 1.0, "variance_target": 1.0,
    "eps": 1e-4, "expander": (1024, 1024, 1024),
    # the surrounding information through CEBRA (on): offset10-model, the sklearn API's
    # defaults (32 hidden units, 8 dimensions, Adam 3e-4, temperature 1, 10k steps), batch 512
    "surround": True, "cebra_dim": 8, "cebra_iterations": 10000, "cebra_batch_size": 512, "cebra_lr": 3e-4,
    "cebra_temperature": 1.0, "cebra_hidden": 32, "cebra_time_offset": 10, "cebra_bin_s": 0.1,
    # ours (unpublished): segments, views, encoder and optimisation
    "bin_s": 0.02, "segment_bins": (50, 100, 200), "calcium_segment_frames": (16, 32, 64), "n_segments": 8,
    "cross_session": True, "calcium_percentile": 99.0,
    "patch_bins": 10, "calcium_patch_frames": 4, "hidden": 128, "dim": 128, "conv_layers": 2, "kernel": 3,
    "batch_size": 512, "steps": 20000, "lr": 1e-3, "weight_decay": 1e-5,
    # torch CPU threads fixed in every preset: the same numbers in-process and in a Dask
    # worker (on a GPU only the CPU side runs on them)
    "readout_values": 1 << 22, "threads": 1, "device": "auto",
}

CPU: dict = {
    **PAPER,
    # a smaller CEBRA (4-d output, 16 hidden units, 300 steps of 256) and encoder (32 hidden
    # units, one residual convolution), a higher lr for a 300-step schedule, one CPU thread
    # (two threads were up to 8x slower on our 2-core machine when its cores were busy)
    "expander": (256, 256, 256), "cebra_dim": 4, "cebra_iterations": 300, "cebra_batch_size": 256,
    "cebra_hidden": 16, "hidden": 32, "dim": 64, "conv_layers": 1, "batch_size": 256, "steps": 300, "lr": 3e-3,
    "threads": 1,
}

TINY: dict = {
    **PAPER,
    "expander": (32, 32, 32), "cebra_dim": 2, "cebra_iterations": 5, "cebra_batch_size": 64,
    "segment_bins": (10, 20), "calcium_segment_frames": (4, 8), "n_segments": 2, "cebra_hidden": 8,
    "hidden": 8, "dim": 8, "conv_layers": 1, "batch_size": 32, "steps": 3, "threads": 1,
}

INFO = MethodInfo(
    name="neurpir",
    kind="method",
    summary="VICReg on each neuron's activity segments (segment-length augmentation, adaptive average "
    "pooling), conditioned on CEBRA-encoded surrounding information (stimulus, behaviour, session).",
    paper="Wu, Liao, Deng, Guo & Wang, ICLR 2025, 'Neuron Platonic Intrinsic Representation From "
    "Dynamics Using Contrastive Learning'",
    factory="neuronbench_methods.neurpir.method:NeurPIR",
    presets={"paper": PAPER, "cpu": CPU, "tiny": TINY},
    modalities=("spikes", "calcium"),
    uses_torch=True,
    extras=("torch", "neurpir"),
    # the encoder's steps (its warm-up is 5 % of them) and CEBRA's
    budget_keys=("steps", "cebra_iterations"),
)

INFO_NOCEBRA = INFO.ablation(
    "neurpir-nocebra",
    "NeurPIR without the CEBRA-encoded surrounding information (ablation): the segment "
    "encoder sees the neuron's activity alone.",
    surround=False,
)
