"""Declared method parameters (neuronbench/params.py): the presets are the only values,
and a built method gives back exactly the config it was built from."""

from __future__ import annotations

import dataclasses

import pytest

from neuronbench.errors import NeuronbenchError
from neuronbench.params import Params
from neuronbench.plugin import config_hash
from neuronbench.registry import all_methods

BUILT_IN = sorted((name, preset) for name, info in all_methods().items()
                  if info.factory.startswith(("neuronbench_methods.", "neuronbench_baselines."))
                  for preset in info.presets)


@pytest.mark.parametrize(("name", "preset"), BUILT_IN)
def test_a_built_method_gives_back_its_config(name: str, preset: str) -> None:
    info = all_methods()[name]
    config = info.config(preset)
    model = info.build(config)
    assert isinstance(model, Params)
    assert model.get_params() == config and config_hash(model.get_params()) == config_hash(config)
    assert type(model)(**model.get_params()).get_params() == config  # an unfitted copy
    assert not [k for k in vars(model) if k.endswith("_")]  # the constructor fits nothing


class Toy(Params):
    dim: int  # width
    lr: float  # learning rate
    flag: bool = True  # added later: the behaviour before it existed

    def fit(self, recordings, *, seed, labels=None):
        self.seed_ = seed
        return self


class Deeper(Toy):
    depth: int  # layers


def test_parameters_come_from_the_declaration() -> None:
    toy = Toy(dim=4, lr=0.1)
    assert (toy.dim, toy.lr, toy.flag) == (4, 0.1, True)
    assert toy.get_params() == {"dim": 4, "lr": 0.1}  # at its default, flag is not part of the config
    assert Toy(dim=4, lr=0.1, flag=False).get_params() == {"dim": 4, "lr": 0.1, "flag": False}
    assert repr(Toy(dim=4, lr=0.1, flag=False)) == "Toy(dim=4, lr=0.1, flag=False)"
    assert "seed_" not in toy.fit([], seed=3).get_params()  # fitted state is not a parameter
    assert list(Deeper(dim=1, lr=1.0, depth=2).get_params()) == ["dim", "lr", "depth"]


def test_a_missing_or_unknown_parameter_is_named() -> None:
    with pytest.raises(NeuronbenchError, match=r"Toy: missing parameter\(s\) \['lr'\]"):
        Toy(dim=4)
    with pytest.raises(NeuronbenchError, match=r"Deeper: missing parameter\(s\) \['depth'\]"):
        Deeper(dim=4, lr=0.1)
    with pytest.raises(NeuronbenchError, match=r"Toy: unknown parameter\(s\) \['width'\]"):
        Toy(dim=4, lr=0.1, width=3)


def test_a_preset_missing_a_parameter_fails_to_build() -> None:
    broken = dataclasses.replace(all_methods()["random"], name="random-broken", presets={"cpu": {}})
    with pytest.raises(NeuronbenchError, match=r"RandomEmbedding: missing parameter\(s\) \['dim'\]"):
        broken.build()
