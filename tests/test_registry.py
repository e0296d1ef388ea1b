import subprocess
import sys

import pytest

from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import MethodInfo, config_hash
from neuronbench.registry import all_methods, get_method


def test_listing_imports_neither_torch_nor_pandas():
    code = ("import sys; from neuronbench.cli import main; "
            "[main(['list', w]) for w in ('methods', 'datasets', 'tasks')]; "
            "print('HEAVY', sorted(m for m in ('torch', 'pandas', 'sklearn', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "features" in out and "synthetic" in out and "region" in out


def test_builtin_controls_are_registered_with_presets():
    methods = all_methods()
    assert {"features", "random"} <= set(methods)
    for info in methods.values():
        assert "cpu" in info.presets


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(NeuronbenchError, match="choose from: .*features"):
        get_method("nope")


def test_method_info_rules():
    with pytest.raises(NeuronbenchError, match="'cpu' preset"):
        MethodInfo("x", "method", "s", "m:f", presets={"paper": {}})
    with pytest.raises(NeuronbenchError, match="kind"):
        MethodInfo("x", "oracle", "s", "m:f", presets={"cpu": {}})
    info = MethodInfo("x", "method", "s", "m:f", presets={"cpu": {"d": 1, "device": "auto"}},
                      settings=("transductive",), na_reasons={"inductive": "needs the test animals"},
                      modalities=("spikes",), requires=("waveforms",), uses_torch=True)
    assert info.config(device="cuda") == {"d": 1, "device": "cuda"}
    with pytest.raises(NeuronbenchError, match="unknown config keys"):
        info.config(width=3)
    assert info.why_not("inductive", "spikes", ("waveforms",)) == "needs the test animals"
    assert "calcium" in info.why_not("transductive", "calcium", ())
    assert "waveforms" in info.why_not("transductive", "spikes", ())
    assert info.why_not("transductive", "spikes", ("waveforms",)) is None
    # the device is not part of a method's identity
    assert config_hash({"d": 1, "device": "cpu"}) == config_hash({"d": 1, "device": "cuda"})


def test_repeated_options_add_up():
    from neuronbench.cli import build_parser

    args = build_parser().parse_args(["run", "--method", "a", "--method", "b,c", "--split", "inductive"])
    assert args.method == ["a", "b", "c"] and args.setting == ["inductive"] and args.task is None


def test_cached_synthetic_dataset_is_reused_not_rebuilt(tmp_path):
    from neuronbench.data.simulated import build_synthetic

    paths = build_synthetic(tmp_path, size="tiny")
    stamp = [(p / "manifest.json").stat().st_mtime_ns for p in paths]
    assert build_synthetic(tmp_path, size="tiny") == paths
    assert [(p / "manifest.json").stat().st_mtime_ns for p in paths] == stamp


def test_ablation_is_the_same_method_with_changed_presets() -> None:
    base = MethodInfo(name="m", kind="method", summary="s", factory="x:y", paper="p", extras=("torch",),
                      presets={"cpu": {"a": 1, "b": 2}, "paper": {"a": 3, "b": 4}})
    abl = base.ablation("m-no-b", "without b", b=0)
    assert (abl.name, abl.summary, abl.paper, abl.extras, abl.factory) == ("m-no-b", "without b", "p", ("torch",), "x:y")
    assert abl.presets == {"cpu": {"a": 1, "b": 0}, "paper": {"a": 3, "b": 0}}
    assert base.presets["cpu"] == {"a": 1, "b": 2}  # the original is untouched


CLASH = MethodInfo("features", "method", "a third-party method named like a built-in", "x:y", presets={"cpu": {}})
NOT_INFO = {"name": "dict"}
GOOD = MethodInfo("third-party", "method", "a working plug-in", "x:y", presets={"cpu": {}})


def test_a_broken_or_clashing_plugin_is_skipped_with_a_warning(monkeypatch, capsys):
    from importlib.metadata import EntryPoint

    from neuronbench import registry
    from neuronbench.cli import main

    eps = [EntryPoint(name=n, value=v, group=registry.ENTRY_POINT_GROUP) for n, v in (
        ("broken", "tests.no_such_module:INFO"), ("clash", "tests.test_registry:CLASH"),
        ("notinfo", "tests.test_registry:NOT_INFO"), ("good", "tests.test_registry:GOOD"))]
    before = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda group: list(before(group=group)) + eps
                        if group == registry.ENTRY_POINT_GROUP else [])
    registry.all_methods.cache_clear()
    try:
        methods = all_methods()
        err = capsys.readouterr().err
        assert methods["third-party"] is GOOD and methods["features"] is not CLASH
        assert "entry point 'broken' (tests.no_such_module:INFO)" in err and "ModuleNotFoundError" in err
        assert "entry point 'clash' (tests.test_registry:CLASH)" in err and "'features' is already registered" in err
        assert "entry point 'notinfo'" in err and "got dict" in err
        assert main(["list", "methods"]) == 0  # the harness goes on
        assert "third-party" in capsys.readouterr().out
    finally:
        registry.all_methods.cache_clear()


BUILTINS = {"nuclr", "nuclr-nospatial", "neurpir", "neurpir-nocebra", "lolcat", "nemo", "neuprint",
            "features", "population", "random"}


def test_builtin_methods_are_entry_points_of_neuronbench_itself():
    from importlib.metadata import entry_points

    from neuronbench import registry

    eps = entry_points(group=registry.ENTRY_POINT_GROUP)
    assert {ep.name for ep in eps if registry.is_builtin(ep)} == BUILTINS
    methods = all_methods()
    assert BUILTINS <= set(methods)
    kinds = [registry.KINDS.index(info.kind) for info in methods.values()]
    assert kinds == sorted(kinds)  # listed by kind: methods, baselines, controls
    assert list(methods)[:4] == ["neurpir", "neurpir-nocebra", "nuclr", "nuclr-nospatial"]


def test_a_broken_builtin_fails_loudly(monkeypatch):
    from importlib.metadata import EntryPoint

    from neuronbench import registry

    broken = EntryPoint(name="broken", value="tests.no_such_module:INFO", group=registry.ENTRY_POINT_GROUP)
    before, builtin = registry.entry_points, registry.is_builtin
    monkeypatch.setattr(registry, "entry_points", lambda group: list(before(group=group)) + [broken])
    monkeypatch.setattr(registry, "is_builtin", lambda ep: ep is broken or builtin(ep))
    registry.all_methods.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError, match="tests.no_such_module"):
            all_methods()
        monkeypatch.setattr(registry, "entry_points", lambda group: [])  # an install older than pyproject.toml
        registry.all_methods.cache_clear()
        with pytest.raises(NeuronbenchError, match="no built-in method is registered.*pip install -e"):
            all_methods()
    finally:
        registry.all_methods.cache_clear()


def test_the_harness_never_imports_a_method_package_by_name():
    """Built-in methods are found like plug-ins, through entry points: no module of
    neuronbench/ imports `neuronbench_methods` or `neuronbench_baselines`, statically or at run time."""
    import ast
    from pathlib import Path

    import neuronbench

    plugins = ("neuronbench_methods", "neuronbench_baselines")
    found = []
    for path in sorted(Path(neuronbench.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            found += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in plugins]
    assert found == []
    code = ("import sys\n"
            "from neuronbench import registry\n"
            "registry.entry_points = lambda group: []\n"
            "try:\n    registry.all_methods()\nexcept Exception:\n    pass\n"
            "import importlib, pkgutil, neuronbench\n"
            "for m in pkgutil.walk_packages(neuronbench.__path__, 'neuronbench.'):\n"
            "    if not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "print('PLUGINS', sorted(m for m in sys.modules if m.split('.')[0] in ('neuronbench_methods', 'neuronbench_baselines')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "PLUGINS []" in out


def test_the_plugin_folders_install_under_names_no_other_project_takes(tmp_path):
    """methods/ and baselines/ import as neuronbench_methods and neuronbench_baselines, from
    any directory; no top-level `methods` or `baselines` is installed (setup.py)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import importlib.util as u, neuronbench_methods.nuclr, neuronbench_baselines.nemo; "
            "print('FOUND', [n for n in ('methods', 'baselines') if u.find_spec(n) is not None])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env=env).stdout
    assert "FOUND []" in out


def test_every_package_folder_is_listed_in_pyproject():
    """pyproject.toml lists the packages by hand (methods/ and baselines/ install under other
    names, which rules out automatic discovery): a package folder left out would be missing
    from a wheel while an editable install still finds it."""
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"neuronbench": "neuronbench", **{name: folder for name, folder in setuptools["package-dir"].items()}}
    assert folders == {"neuronbench": "neuronbench", "neuronbench_methods": "methods",
                       "neuronbench_baselines": "baselines"}
    found = {".".join([name, *init.parent.relative_to(root / folder).parts])
             for name, folder in folders.items() for init in (root / folder).rglob("__init__.py")}
    assert sorted(setuptools["packages"]) == sorted(found)
