"""The GPU check (scripts/gpu_check.py). The tests marked ``cuda`` run it on a CUDA device
(``python -m pytest -m cuda -s``) and are skipped, "no CUDA device", without one; the
others test its parts on the CPU."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuronbench.registry import all_methods

SCRIPT = Path(__file__).parents[1] / "scripts" / "gpu_check.py"
_spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
gpu_check = importlib.util.module_from_spec(_spec)
sys.modules["gpu_check"] = gpu_check  # dataclasses look their module up there
_spec.loader.exec_module(gpu_check)

TORCH_METHODS = ["lolcat", "nemo", "neuprint", "neurpir", "neurpir-nocebra", "nuclr", "nuclr-nospatial"]


def on_cuda(test):
    """Mark a test ``cuda`` and skip it where there is no CUDA device."""
    skip = pytest.mark.skipif(not gpu_check.cuda_available(), reason="no CUDA device")
    return pytest.mark.cuda(skip(test))


# ----------------------------------------------------------------------------- on CUDA

@on_cuda
@pytest.mark.parametrize("name", TORCH_METHODS)
def test_paper_preset_trains_on_cuda_and_matches_the_cpu(name):
    row = gpu_check.check_method(name)
    print("\n" + gpu_check.format_table([row]))
    assert row.error is None
    assert row.steps >= gpu_check.STEPS
    assert row.steps_per_s > 0 and row.peak_mib > 0
    assert row.rel_diff <= gpu_check.RTOL, f"{name}: CUDA and CPU forward passes differ by {row.rel_diff:.2e}"


@on_cuda
def test_a_bf16_forward_pass_fails_the_comparison():
    """The tolerance catches reduced precision: NEMO's embedding under its bf16 autocast
    on CUDA differs from the CPU's by more than RTOL."""
    from neuronbench.device import full_precision

    info = all_methods()["nemo"]
    recs = gpu_check.fit_recordings()
    model = gpu_check.fit(info, gpu_check.few_steps_config(info, 2), recs)
    bf16 = gpu_check.forward("nemo", model, recs)
    with full_precision():
        cpu = gpu_check.forward("nemo", gpu_check.move_fitted(model, "cpu"), recs)
    assert gpu_check.relative_difference(cpu, bf16) > gpu_check.RTOL


@on_cuda
def test_full_precision_turns_off_bf16_autocast_on_cuda():
    import torch

    from neuronbench.device import autocast, full_precision

    x = torch.ones(4, 4, device="cuda")
    with autocast(x.device):
        assert (x @ x).dtype == torch.bfloat16
    with full_precision(), autocast(x.device):
        assert (x @ x).dtype == torch.float32


# ----------------------------------------------------------------------------- on the CPU

def test_torch_methods_are_the_methods_with_a_device_and_listing_them_imports_no_torch():
    assert sorted(gpu_check._torch_methods()) == TORCH_METHODS
    code = ("import sys, importlib.util; s = importlib.util.spec_from_file_location('g', sys.argv[1]); "
            "m = importlib.util.module_from_spec(s); sys.modules['g'] = m; s.loader.exec_module(m); "
            "print(len(m._torch_methods()), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(SCRIPT)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(TORCH_METHODS)), "False"]


@pytest.mark.parametrize("name", TORCH_METHODS)
def test_few_steps_config_changes_the_training_length_only(name):
    info = all_methods()[name]
    paper = dict(info.presets["paper"])
    config = gpu_check.few_steps_config(info, 4)
    changed = {k for k in paper if config[k] != paper[k]}
    assert changed - {"device"} == set(gpu_check.few_steps_overrides(paper, 4)) != set()
    assert config["device"] == "cuda"
    assert dict(info.presets["paper"]) == paper  # the preset itself is untouched


def test_few_steps_overrides_refuses_a_config_it_does_not_know():
    with pytest.raises(ValueError, match="training length"):
        gpu_check.few_steps_overrides({"lr": 1e-3, "device": "auto"}, 4)


# the paper presets where a CPU fit takes seconds; NuCLR's and NeurPIR's CEBRA take longer
CPU_RUNS = [("nemo", "paper"), ("lolcat", "paper"), ("neuprint", "paper"), ("neurpir-nocebra", "paper"),
            ("neurpir", "tiny"), ("nuclr", "tiny")]


@pytest.mark.parametrize("name, preset", CPU_RUNS)
def test_check_method_runs_on_the_cpu(name, preset):
    """The whole check with the CPU in both roles: a few counted steps, then two
    forward passes of one fitted model, identical on one device."""
    pytest.importorskip("torch")
    row = gpu_check.check_method(name, steps=3, preset=preset, device="cpu", reference="cpu")
    extra = 2 if name == "neurpir" else 0  # CEBRA's steps
    per_epoch = 2 if preset == "tiny" and name == "nuclr" else 1  # NuCLR's tiny preset: 8 pairs a batch
    assert row.steps == 3 * per_epoch + extra
    assert row.steps_per_s > 0 and np.isnan(row.peak_mib)
    assert row.rel_diff == 0.0 and row.ok


def test_relative_difference():
    a = np.array([[1.0, -4.0], [2.0, 0.0]])
    assert gpu_check.relative_difference(a, a.copy()) == 0.0
    assert gpu_check.relative_difference(a, a + [[0.0, 0.0], [0.0, 2e-4]]) == pytest.approx(5e-5)
    assert gpu_check.relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert gpu_check.relative_difference(np.zeros(3), np.ones(3)) == np.inf
    assert gpu_check.relative_difference(a, np.where(a == 0.0, np.nan, a)) == np.inf
    with pytest.raises(ValueError, match="shapes"):
        gpu_check.relative_difference(a, a[:1])


def test_the_tolerance_passes_float32_reordering_and_fails_tf32_and_bf16():
    """Why RTOL is 1e-4: a float32 product of 256-term sums, summed in another order
    (here in float64), is within 1e-6 of its scale; with its inputs rounded to TF32's
    mantissa, or computed in bf16 as autocast does, it is off by more than 1e-4."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(64, 256, generator=gen), torch.randn(256, 128, generator=gen)
    exact = (x.double() @ w.double()).numpy()
    assert gpu_check.relative_difference(exact, (x @ w).numpy()) < gpu_check.RTOL / 100

    def tf32(t):  # round to nearest on the 10 stored mantissa bits of TF32
        return ((t.view(torch.int32) + 0x1000) & ~0x1FFF).view(torch.float32)

    assert gpu_check.relative_difference(exact, (tf32(x) @ tf32(w)).numpy()) > gpu_check.RTOL
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = (x @ w).float().numpy()
    assert gpu_check.relative_difference(exact, low) > gpu_check.RTOL * 10


def test_move_fitted_moves_the_fitted_modules_tensors_and_devices():
    torch = pytest.importorskip("torch")

    class Fitted:
        device = "auto"  # the config stays

    model = Fitted()
    model.net_, model.table_ = torch.nn.Linear(2, 2), torch.zeros(3)
    model.torch_device_, model.device_, model.other_ = torch.device("cpu"), "cpu", [torch.zeros(1)]
    assert gpu_check.move_fitted(model, "meta") is model
    assert model.net_.weight.device.type == model.table_.device.type == model.torch_device_.type == "meta"
    assert model.device_ == "meta" and model.device == "auto"
    assert model.other_[0].device.type == "cpu"  # only modules and tensors are moved


def test_full_precision_switches_autocast_and_tf32_off_and_back(monkeypatch):
    torch = pytest.importorskip("torch")
    from neuronbench import device

    calls = []  # torch.autocast stands in for itself: a CPU build has no CUDA autocast to enter
    monkeypatch.setattr(torch, "autocast", lambda **kw: calls.append(kw) or contextlib.nullcontext())
    before = [getattr(obj, name) for obj, name, _ in device._tf32_switches()]
    with device.full_precision():
        assert [getattr(obj, name) for obj, name, _ in device._tf32_switches()] == \
            [off for *_, off in device._tf32_switches()]
        with device.autocast(torch.device("cuda")):
            pass
    assert calls == []
    assert [getattr(obj, name) for obj, name, _ in device._tf32_switches()] == before
    with device.autocast(torch.device("cuda")):
        pass
    assert calls == [{"device_type": "cuda", "dtype": torch.bfloat16}]


def test_format_table():
    rows = [gpu_check.Row("nuclr", steps=10, steps_per_s=12.345, peak_mib=1536.04, rel_diff=3.2e-6),
            gpu_check.Row("nemo", steps=10, steps_per_s=80.0, peak_mib=20.0, rel_diff=2e-3),
            gpu_check.Row("lolcat", error="RuntimeError: out of memory")]
    lines = gpu_check.format_table(rows).splitlines()
    assert lines[0].split() == ["method", "steps", "steps/s", "peak", "MiB", "rel.", "diff", "result"]
    assert lines[2].split() == ["nuclr", "10", "12.35", "1536.0", "3.20e-06", "ok"]
    assert lines[3].split() == ["nemo", "10", "80.00", "20.0", "2.00e-03", "FAIL:", ">", "0.0001"]
    assert lines[4].split() == ["lolcat", "ERROR", "RuntimeError:", "out", "of", "memory"]
    assert "tolerance 0.0001" in lines[5]


def test_script_without_cuda_prints_one_line_and_exits_0():
    if gpu_check.cuda_available():
        pytest.skip("a CUDA device is present")
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 1 and "no CUDA device" in out.stdout
