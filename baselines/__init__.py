"""Published baselines (NeuPRINT, NEMO, LOLCAT) and the controls, each listed here by
its `MethodInfo` (metadata only: the model code is imported when the method is built)."""

from baselines.lolcat import INFO as LOLCAT
from baselines.nemo import INFO as NEMO
from baselines.neuprint import INFO as NEUPRINT
from neuronbench.plugin import MethodInfo

FEATURES = MethodInfo(
    name="features",
    kind="control",
    summary="Hand-crafted single-neuron statistics: rate, ISI and autocorrelogram "
    "statistics, waveform shape where recorded (calcium: trace and event statistics).",
    factory="baselines.features:SingleNeuronFeatures",
    presets={"cpu": {"min_spikes": 20, "min_events": 5, "waveforms": True},
             "paper": {"min_spikes": 20, "min_events": 5, "waveforms": True}},
)

RANDOM = MethodInfo(
    name="random",
    kind="control",
    summary="Random Gaussian vectors seeded by neuron id: the chance floor of the probe.",
    factory="baselines.random_embedding:RandomEmbedding",
    presets={"cpu": {"dim": 32}, "paper": {"dim": 32}},
)

METHODS: tuple[MethodInfo, ...] = (FEATURES, RANDOM, NEMO, NEUPRINT, LOLCAT)
