"""The package's shape: one option catalogue that the CLI and the studio cover, modules that
import in isolation and without cycles, no module using another's private names, and a command
line that does not load the web stack."""

from __future__ import annotations

import ast
import dataclasses
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import stylesynth
from stylesynth.cli import cli
from stylesynth.options import RunOptions

SRC = Path(stylesynth.__file__).resolve().parent
ROOT = SRC.parent.parent
FIELDS = [f.name for f in dataclasses.fields(RunOptions)]
# The API's alone (callbacks, and what the command line sets its own way).
API_ONLY = {"progress": "--quiet", "on_step": "--snapshot-every", "checkpoint_path": "OUT.ckpt",
            "extra_loss": "video's --temporal-weight"}


def test_every_run_option_is_on_the_command_line_or_marked_api_only():
    offered = {p.name for p in cli.commands["transfer"].params}
    for f in dataclasses.fields(RunOptions):
        if f.metadata["command_line"]:
            assert f.name in offered, f"RunOptions.{f.name} has no option on the command line"
        else:
            assert f.name in API_ONLY, f"RunOptions.{f.name} is marked command_line=False: say why here"
    assert all(f.metadata["help"] for f in dataclasses.fields(RunOptions))


def test_every_run_option_is_in_the_web_config():
    """The studio says how it sets every RunOptions field (/api/config serves it: test_web_api)."""
    pytest.importorskip("starlette")
    from stylesynth.web.form import FIELDS as FORM
    from stylesynth.web.settings import RUN_OPTIONS, WebSettings

    assert set(RUN_OPTIONS) == set(FIELDS), "say in web/settings.py RUN_OPTIONS how the studio sets it"
    assert {name for name, role in RUN_OPTIONS.items() if role == "form"} <= set(FORM)
    assert {name for name, role in RUN_OPTIONS.items() if role == "server"} <= {
        f.name for f in dataclasses.fields(WebSettings)}


def test_the_catalogue_checks_the_api():
    with pytest.raises(stylesynth.InputError, match="unknown pooling 'min': choose one of max, avg"):
        RunOptions(pooling="min").check()
    with pytest.raises(stylesynth.InputError, match="threads must be a whole number at most 1024"):
        RunOptions(threads=5000).check()
    assert RunOptions(weights_file="a.pth") == stylesynth.options.from_keywords({"weights": "a.pth"})


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(SRC)], "stylesynth."))


def _imports(path: Path, module: str) -> set[str]:
    """The package's modules `module` imports anywhere in its file (also inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


MODULES = set(_modules()) | {"stylesynth"}


def _path(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    return SRC / relative / "__init__.py" if (SRC / relative).is_dir() else SRC / f"{relative}.py"


def test_no_import_cycles():
    # A package's __init__ gathers its modules: it is left out as an importer, not as a module.
    graph = {m: _imports(_path(m), m) for m in MODULES if _path(m).name != "__init__.py"}
    graph = {m: {d for d in deps if d in graph} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for dependency in sorted(graph[module]):
            if state.get(dependency) == 1:
                cycle = trail[trail.index(dependency):] if dependency in trail else trail
                pytest.fail(f"import cycle: {' -> '.join([*cycle, module, dependency])}")
            if dependency not in state:
                visit(dependency, [*trail, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


# The layers, bottom up: a module imports only from its own layer and those below it.
LAYERS = [
    ["errors", "version", "names", "signals", "lazy", "classic"],
    ["io", "nets", "pyramid"],
    ["options", "evaluate"],
    ["engine"],
    ["modes", "compose"],
    ["batch", "web"],
    ["cli", ""],  # "": the package itself (its API, imported on first use)
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> int:
    return LAYER[module.split(".")[1] if "." in module else ""]


def test_every_module_is_in_a_layer_and_imports_none_above_its_own():
    for module in sorted(MODULES):
        assert (module.split(".")[1] if "." in module else "") in LAYER, f"{module}: add it to LAYERS"
        for imported in _imports(_path(module), module):
            assert _layer(imported) <= _layer(module), f"{module} imports {imported}, a higher layer"


def test_no_module_imports_another_modules_private_names():
    files = [*SRC.rglob("*.py"), *(ROOT / "bench").glob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("stylesynth")):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                assert not private, f"{path.relative_to(ROOT)} imports private {private} from {node.module}"


@pytest.mark.parametrize("module", _modules())
def test_every_module_imports_alone_in_a_fresh_interpreter(module):
    if module.startswith("stylesynth.web") and module != "stylesynth.web.settings":
        pytest.importorskip("starlette")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC.parent), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, env=env, timeout=120)


def test_the_command_line_does_not_load_the_web_stack():
    code = ("import sys, stylesynth.cli; from stylesynth.cli import main\n"
            "try:\n    main(['transfer', '--help'])\nexcept SystemExit:\n    pass\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn', 'multipart')]\n"
            "assert not loaded, loaded")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC.parent), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120, capture_output=True)


@pytest.mark.parametrize("argv", [["--help"], ["layers"], ["layers", "--model", "vgg19"], ["transfer", "--help"]])
def test_the_help_and_the_layer_table_answer_without_torch(argv):
    """Importing torch takes 1.5-2.5 s and 200 MB: the help and `stylesynth layers` (a static
    table, names.py) do without it, and answer in a fraction of a second."""
    code = ("import sys\nfrom stylesynth.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=120, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert ("relu5_3 " in done.stdout) if argv[0] == "layers" else ("Usage:" in done.stdout)


def test_ci_runs_exactly_the_readmes_test_command_and_it_names_the_skips():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("The tests (this is what `.ci/run` runs", 1)[1].split("```bash\n", 1)[1]
    command = block.split("\n```", 1)[0].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == command
    assert command.endswith("python -m pytest -q -rs")  # -rs: every skip with its reason
