"""The new methods under study (NuCLR, NeurPIR). Each lists its `MethodInfo` here."""

from neuronbench.plugin import MethodInfo

METHODS: tuple[MethodInfo, ...] = ()
