"""Published baselines (NeuPRINT, NEMO, LOLCAT: each subpackage's ``__init__`` holds its
`MethodInfo`) and the controls, whose `MethodInfo` is here (metadata only: the model code is
imported when the method is built). All are registered through entry points in
``pyproject.toml`` like any plug-in."""

from neuronbench.plugin import MethodInfo

FEATURES = MethodInfo(
    name="features",
    kind="control",
    summary="Hand-crafted single-neuron statistics: rate, ISI and autocorrelogram "
    "statistics, waveform shape where recorded (calcium: trace and event statistics).",
    factory="neuronbench_baselines.features:SingleNeuronFeatures",
    presets={"cpu": {"min_spikes": 20, "min_events": 5, "waveforms": True},
             "paper": {"min_spikes": 20, "min_events": 5, "waveforms": True}},
)

RANDOM = MethodInfo(
    name="random",
    kind="control",
    summary="Random Gaussian vectors seeded by neuron id: the chance floor of the probe.",
    factory="neuronbench_baselines.random_embedding:RandomEmbedding",
    presets={"cpu": {"dim": 32}, "paper": {"dim": 32}},
)

POPULATION = MethodInfo(
    name="population",
    kind="control",
    summary="Hand-crafted population-coupling statistics: a neuron's correlation with the other "
    "units of its recording and the spectrum of its most correlated partners (no stimulus, no behaviour).",
    factory="neuronbench_baselines.population:PopulationCoupling",
    presets={"cpu": {"bin_s": 0.1, "window_s": 0.0, "top_k": 10},
             "paper": {"bin_s": 0.1, "window_s": 0.0, "top_k": 10}},
)
