"""The new methods under study (NuCLR, NeurPIR). Each subpackage's ``__init__`` holds its
`MethodInfo`, registered through an entry point in ``pyproject.toml`` like any plug-in."""
