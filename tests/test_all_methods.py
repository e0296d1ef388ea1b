"""Every registered method runs end to end through the harness on the tiny synthetic
dataset, in every setting, on spikes and on calcium (Open Problems' rule)."""

import pytest

from neuronbench.registry import all_methods
from neuronbench.protocol.record import iter_records
from neuronbench.runner import GridOptions, run_grid

SETTINGS = ["transductive", "transductive-zero-shot", "inductive"]


@pytest.mark.parametrize("dataset", ["synthetic-tiny", "synthetic-tiny-calcium"])
@pytest.mark.parametrize("name", sorted(all_methods()))
def test_method_runs_end_to_end(name, dataset, tmp_path):
    info = all_methods()[name]
    preset = "tiny" if "tiny" in info.presets else "cpu"
    options = GridOptions(preset=preset, device="cpu", probes=("linear",), results=tmp_path, progress=False)
    paths = run_grid([name], dataset, SETTINGS, [0], options=options)
    records = [r for _, r in iter_records(tmp_path)]
    assert len(records) == len(paths) > 0
    for r in records:
        if r.status == "not_applicable":
            assert r.reason
            continue
        assert r.status == "ok", r.reason
        metrics = r.probes["linear"][0]["metrics"]
        assert 0.0 <= metrics["macro_f1"] <= 1.0
        assert len(r.probes["linear"][0]["y_pred"]) == len(r.y_true["neuron_id"]) == r.split.n_test
