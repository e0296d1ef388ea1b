"""The plug-in contract of neuronbench.plugin as the harness enforces it: torch and the
device declared (`MethodInfo.uses_torch`), ``fit`` returns self, the environment checked
before any record, and `neuronbench check-method` on the command line."""

from __future__ import annotations

import importlib.metadata
from importlib.metadata import EntryPoint

import numpy as np
import pandas as pd
import pytest

from neuronbench import plugin, registry
from neuronbench.cli import main
from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import MethodInfo, check_environment
from neuronbench.protocol.record import iter_records
from tests.test_runner import handmade  # noqa: F401 (the fixture registers the dataset and the spies)


class CountModel:
    """A NumPy-only method: each unit's log spike count, scaled. ``device`` is a key of its
    own (where it would put arrays), which the harness must leave alone."""

    def __init__(self, scale: float = 1.0, device: str = "host", broken: str | None = None):
        self.scale, self.device, self.broken = scale, device, broken

    def fit(self, recordings, *, seed, labels=None):
        self.seed_ = seed
        if self.broken == "nan":
            self.scale = float("nan")
        return None if self.broken == "fit-returns-none" else self

    def embed(self, recordings):
        if not hasattr(self, "seed_"):
            raise RuntimeError("embed before fit")
        ids = [i for r in recordings for i in r.neuron_ids]
        counts = np.concatenate([r.spike_counts() for r in recordings]).astype(float)
        return pd.DataFrame({"log_count": self.scale * np.log1p(counts)}, index=pd.Index(ids, name="neuron_id"))


def _info(name: str, **preset) -> MethodInfo:
    return MethodInfo(name=name, kind="method", summary="test", factory=f"{__name__}:CountModel",
                      presets={"cpu": {"scale": 1.0, "device": "host", "broken": None, **preset}})


NUMPY_WITH_DEVICE = _info("numpy-device")
RETURNS_NONE = _info("returns-none", broken="fit-returns-none")
NAN = _info("nan", broken="nan")
TORCH = MethodInfo(name="torch-one", kind="method", summary="test", factory="x:y", uses_torch=True,
                   presets={"cpu": {"device": "auto"}})


@pytest.fixture
def registered(handmade, monkeypatch):  # noqa: F811
    eps = [EntryPoint(name=i.name, value=f"{__name__}:{v}", group=registry.ENTRY_POINT_GROUP) for i, v in (
        (NUMPY_WITH_DEVICE, "NUMPY_WITH_DEVICE"), (RETURNS_NONE, "RETURNS_NONE"), (NAN, "NAN"))]
    before = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda group: list(before(group=group)) + eps
                        if group == registry.ENTRY_POINT_GROUP else [])
    registry.all_methods.cache_clear()
    yield
    registry.all_methods.cache_clear()


def _run(tmp_path, *extra: str) -> list[str]:
    return ["run", "--dataset", "handmade", "--probes", "linear", "--results", str(tmp_path / "results"),
            "--split", "inductive", "--seeds", "1", "--no-progress", *extra]


# -- torch and the device, declared -------------------------------------------------------

def test_a_numpy_plugin_with_a_device_key_is_no_torch_method(registered, tmp_path):
    assert not NUMPY_WITH_DEVICE.uses_torch
    assert NUMPY_WITH_DEVICE.config(device="cpu")["device"] == "host"  # its own key, left alone
    assert main(_run(tmp_path, "--method", "numpy-device", "--device", "cpu")) == 0
    records = [r for _, r in iter_records(tmp_path / "results")]
    assert records and all(r.status == "ok" for r in records)
    assert {r.environment["device"] for r in records} == {"cpu"}
    assert {r.method.config["device"] for r in records} == {"host"}


def test_a_torch_method_declares_a_device_in_every_preset():
    with pytest.raises(NeuronbenchError, match=r"uses_torch=True needs a 'device' key in every preset; \['paper'\]"):
        MethodInfo(name="t", kind="method", summary="s", factory="x:y", uses_torch=True,
                   presets={"cpu": {"device": "auto"}, "paper": {}})
    assert TORCH.config(device="cuda") == {"device": "cuda"}


def test_builtin_torch_methods_declare_it_and_the_controls_do_not():
    methods = registry.all_methods()
    assert {n for n, i in methods.items() if i.uses_torch} == {
        "nuclr", "nuclr-nospatial", "neurpir", "neurpir-nocebra", "nemo", "neuprint", "lolcat"}
    assert not any(i.uses_torch for i in methods.values() if i.kind == "control")


def test_device_cuda_without_a_torch_method_stops_before_any_record(registered, tmp_path, capsys):
    assert main(_run(tmp_path, "--method", "features", "--device", "cuda")) == 2
    err = capsys.readouterr().err
    assert "--device cuda: features does not use torch and runs on the CPU" in err
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists()


def test_device_cuda_in_a_mixed_grid_places_the_torch_methods_and_says_so(monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    features = registry.get_method("features")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(NeuronbenchError, match=r"CUDA is not available on this machine \(needed by torch-one\)"):
        check_environment([TORCH, features], "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_environment([TORCH, features], "cuda")
    err = capsys.readouterr().err
    assert "--device cuda places the torch methods (torch-one); features does not use torch and runs on the CPU" in err
    check_environment([features], "cpu")  # cpu and auto suit every method
    check_environment([features], "auto")


def test_a_missing_extra_names_the_requirement_the_metadata_states(monkeypatch):
    wanted = [r.split(";")[0].strip() for r in importlib.metadata.requires("neuronbench")
              if "extra == \"torch\"" in r]
    assert plugin.extra_requirements("torch") == wanted and wanted
    monkeypatch.setattr(plugin, "_installed", lambda requirement: not requirement.startswith("torch"))
    with pytest.raises(NeuronbenchError) as e:
        check_environment([registry.get_method("nuclr")], "auto")
    message = str(e.value)
    assert f"method 'nuclr' needs {wanted[0]}, which is not installed: pip install 'neuronbench[torch]'" in message
    assert f"install the CPU build of {wanted[0]} first" in message


# -- fit returns self ----------------------------------------------------------------------

def test_the_runner_refuses_a_fit_that_does_not_return_self(registered, tmp_path, capsys):
    assert main(_run(tmp_path, "--method", "returns-none")) == 1
    records = [r for _, r in iter_records(tmp_path / "results")]
    assert records and {r.status for r in records} == {"failed"}
    assert all("fit returned NoneType, expected the model itself" in r.reason for r in records)


def test_fitted_checks_a_torch_model_says_where_it_ran():
    class Torchy:
        def fit(self, recordings, *, seed, labels=None):
            return self

    model = Torchy()
    with pytest.raises(NeuronbenchError, match="declares uses_torch=True, but its fitted model has no device_"):
        plugin.fitted(TORCH, model, model.fit([], seed=0))
    model.device_ = "cuda:0"
    assert plugin.fitted(TORCH, model, model) is model and plugin.device_of(TORCH, model) == "cuda:0"
    assert plugin.device_of(NUMPY_WITH_DEVICE, CountModel()) == "cpu"


# -- neuronbench check-method ---------------------------------------------------------------

def test_check_method_passes_a_builtin_control(capsys):
    assert main(["check-method", "features"]) == 0
    out = capsys.readouterr().out
    assert "method 'features', preset 'cpu'" in out
    assert "pass  check_fit_returns_self" in out and "pass  check_declared_modalities" in out
    assert "FAIL" not in out and "7 of 7 checks passed" in out


@pytest.mark.parametrize("name, check, why", [
    ("nan", "check_embeds_one_finite_row_per_neuron", "NaN or infinite values"),
    ("returns-none", "check_fit_returns_self", "fit returned NoneType, expected the model itself"),
])
def test_check_method_names_the_failed_check_and_why(registered, capsys, name, check, why):
    assert main(["check-method", name]) == 1
    out = capsys.readouterr().out
    fail = out.split(f"FAIL  {check}\n", 1)
    assert len(fail) == 2 and why in fail[1].splitlines()[0]
    assert "pass  check_labels_never_reach_fit" in out


def test_check_method_refuses_an_unknown_name_or_preset(capsys):
    assert main(["check-method", "nope"]) == 2
    assert "unknown method 'nope'; choose from:" in capsys.readouterr().err
    assert main(["check-method", "features", "--preset", "nope"]) == 2
    assert "has no preset 'nope'" in capsys.readouterr().err
