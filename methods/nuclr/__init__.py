"""NuCLR (Arora et al., NeurIPS 2025, "Know Thyself by Knowing Others: Learning Neuron
Identity from Population Context"): metadata only. The model is in `neuronbench_methods.nuclr.method`
(`data`: tokens and views, `model`: backbone, `loss`: contrastive loss); importing this
package does not import torch.

Two registered names share one implementation: ``nuclr`` and ``nuclr-nospatial`` (our
population-context ablation, ``spatial_attention=False``). Presets: ``paper`` (the
published model and the authors' objective, quirks included; our corrections are
options), ``cpu`` (d = 64, 8 pairs per step, 2 epochs, lr 1e-3, dropout 0, one thread),
``tiny`` (tests). Each choice, each deviation from the original code and why:
docs/methods.md ("NuCLR").
"""

from neuronbench.plugin import MethodInfo

PAPER: dict = {
    # backbone (d = 256, 4 heads x 64, 2 temporal + 2 spatio-temporal blocks)
    "dim": 256, "heads": 4, "dim_head": 64, "temporal_layers": 2, "spatiotemporal_layers": 2,
    "ffn_mult": 4, "dropout": 0.2, "rotary_fraction": 0.5,
    # tokens and views: spikes 20 ms bins, 1 s tokens, 10 s windows, +-30 s;
    # calcium 4-frame patches, 128-frame (~30 s) windows, +-240 s
    "bin_s": 0.02, "bins_per_token": 50, "tokens_spikes": 10, "frames_per_token": 4, "tokens_calcium": 32,
    "max_distance_s_spikes": 30.0, "max_distance_s_calcium": 240.0, "keep_min": 0.5, "min_matched": 10,
    # the original's loss and quirks (our corrections are the other values; see neuronbench_methods.nuclr.loss / data)
    "pair_filter": "views", "tau": 0.2, "scale_within_view": False, "calcium_unit_dropout": False,
    # optimisation (AdamW, 1 epoch warm-up then cosine, clipping 1.0)
    "lr_spikes": 5e-4, "lr_calcium": 1.25e-4, "batch_pairs_spikes": 128, "batch_pairs_calcium": 16,
    "epochs_spikes": 300, "epochs_calcium": 30, "weight_decay": 0.01, "warmup_epochs": 1, "grad_clip": 1.0,
    # read-out batch (unit-windows per forward); torch CPU threads, fixed in every preset so
    # that a fit gives the same numbers in-process and in a Dask worker (on a GPU only the
    # CPU side runs on them; a dedicated CPU machine may raise it, as a new config)
    "readout_rows": 4096, "threads": 1, "checkpoint_dir": None, "device": "auto",
}

CPU: dict = {
    **PAPER,
    "dim": 64, "heads": 4, "dim_head": 16, "dropout": 0.0,
    "lr_spikes": 1e-3, "lr_calcium": 1e-3, "batch_pairs_spikes": 8, "batch_pairs_calcium": 8,
    "epochs_spikes": 2, "epochs_calcium": 2, "threads": 1,
}

TINY: dict = {
    **PAPER,
    "dim": 16, "heads": 2, "dim_head": 8, "temporal_layers": 1, "spatiotemporal_layers": 1,
    "tokens_spikes": 5, "tokens_calcium": 8, "max_distance_s_spikes": 10.0, "max_distance_s_calcium": 10.0,
    "lr_spikes": 2e-3, "lr_calcium": 2e-3, "batch_pairs_spikes": 8, "batch_pairs_calcium": 8,
    "epochs_spikes": 2, "epochs_calcium": 2, "threads": 1,
}

INFO = MethodInfo(
    name="nuclr",
    kind="method",
    summary="Self-supervised permutation-equivariant spatio-temporal transformer: a neuron's "
    "representation, computed with its population as context, must identify it in another window.",
    paper="Arora et al., NeurIPS 2025, 'Know Thyself by Knowing Others: Learning Neuron Identity "
    "from Population Context'",
    factory="neuronbench_methods.nuclr.method:NuCLR",
    presets={"paper": PAPER, "cpu": CPU, "tiny": TINY},
    modalities=("spikes", "calcium"),
    uses_torch=True,
    extras=("torch",),
    # the epochs, a fraction of one included; the warm-up stays the paper's one epoch
    budget_keys=("epochs_spikes", "epochs_calcium"),
    fractional_keys=("epochs_spikes", "epochs_calcium"),
)

INFO_NOSPATIAL = INFO.ablation(
    "nuclr-nospatial",
    "NuCLR without attention across units (ablation): the same model and training, each "
    "unit's representation computed from its own activity alone.",
    spatial_attention=False,
)
