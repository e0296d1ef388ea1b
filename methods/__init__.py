"""The new methods under study (NuCLR, NeurPIR). Each lists its `MethodInfo` here."""

from methods.neurpir import INFO as NEURPIR
from methods.neurpir import INFO_NOCEBRA as NEURPIR_NOCEBRA
from methods.nuclr import INFO as NUCLR
from methods.nuclr import INFO_NOSPATIAL as NUCLR_NOSPATIAL
from neuronbench.plugin import MethodInfo

METHODS: tuple[MethodInfo, ...] = (NUCLR, NUCLR_NOSPATIAL, NEURPIR, NEURPIR_NOCEBRA)
