"""One catalogue (options.py), five interfaces: the command line (every mode's command, video and
batch included), the Python API's checks, batch's manifest columns, the studio's form checks and
its /api/config. Each option's default, bounds and choices are probed through every interface
that offers it, and the interfaces must agree with the catalogue and so with each other."""

from __future__ import annotations

import dataclasses
import inspect

import click
import pytest

from stylesynth.batch.plan import check_options
from stylesynth.cli import OUTPUT_OPTIONS, _numbers, cli
from stylesynth.errors import InputError
from stylesynth.modes import dream, figure, reconstruct, texture, transfer
from stylesynth.modes.video import video
from stylesynth.names import DEFAULT_RATIO
from stylesynth.options import (BATCH_WIDE, FIELDS, JOB_OPTIONS, MAX_SIZE, MODE_OPTIONS, RunOptions,
                                TransferOptions, catalogue)

RUN = {f.name for f in dataclasses.fields(RunOptions)}
# The minimal arguments of each command, and the option names it takes from the catalogue.
COMMANDS = {"transfer": ["photo.jpg", "painting.jpg", "-o", "out.png"],
            "video": ["clip.mp4", "painting.jpg", "-o", "out.mp4"],
            "batch": ["photo.jpg", "--style", "painting.jpg", "-o", "out"]}


def _probes(name: str, f: dataclasses.Field | None = None) -> list[tuple[object, bool]]:
    """(value, accepted?) at and beyond the catalogue's bounds, and for its choices (field `f`,
    default: FIELDS[name])."""
    f = f or FIELDS[name]
    meta = f.metadata
    probes: list[tuple[object, bool]] = []
    if meta["choices"]:
        probes += [(choice, True) for choice in meta["choices"]] + [("bogus", False)]
    if meta["kind"] in (int, float):
        low, high, strict = meta["low"], meta["high"], meta["strict"]
        step = 1 if meta["kind"] is int else 0.5
        if low is not None:
            probes += [(low, not strict), (low + step, True) if strict else (low - step, False)]
        if high is not None:
            probes += [(high, True), (high + step if meta["kind"] is int else high * 2, False)]
    if meta["kind"] is tuple and meta["low"] is not None:  # one or more numbers within the bounds
        probes += [((meta["low"] + 1, meta["low"] + 2), True), ((meta["low"],), not meta["strict"]),
                   ((meta["low"] + 1, meta["low"] - 1), False), ((), False)]
    if name == "ratio":  # the rule (TransferOptions.check): a ratio of 0 would drop the content
        probes = [(v, ok and v != 0) for v, ok in probes]
    return probes


def _text(value: object) -> str:
    if isinstance(value, tuple):  # the command line's numbers separated by commas
        return ",".join(_text(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def _api(name: str, value: object) -> bool:
    try:
        (RunOptions if name in RUN else TransferOptions)(**{name: value}).check()
        return True
    except InputError:
        return False


def _cli(command: str, name: str, value: object) -> bool:
    """What the command line makes of `--name value` (click's own types), then the API's check,
    which the command calls before any work."""
    param = next(p for p in cli.commands[command].params if p.name == name)
    given = [param.opts[0], _text(value)]
    if param.is_flag:  # --crop/--pad: the two choices, and nothing else can be written
        choices = FIELDS[name].metadata["choices"]
        if value not in choices:
            return False
        given = [param.opts[0] if value == choices[0] else param.secondary_opts[0]]
    try:
        ctx = cli.commands[command].make_context(command, [*COMMANDS[command], *given])
    except click.BadParameter:
        return False
    return _api(name, ctx.params[name])


def _manifest(name: str, value: object) -> bool:
    try:
        check_options({name: _text(value)}, "")
        return True
    except InputError:
        return False


def _form_settings():
    from stylesynth.web.settings import WebSettings

    return WebSettings(max_size=MAX_SIZE, max_iterations=10**9)


def _form(name: str, value: object) -> bool:
    from starlette.datastructures import FormData

    from stylesynth.web.form import form_options

    try:
        form_options(FormData([(name, _text(value))]), _form_settings())
        return True
    except InputError:
        return False


def _cli_commands(name: str) -> list[str]:
    return [c for c in COMMANDS if any(p.name == name for p in cli.commands[c].params)]


@pytest.mark.parametrize("name", [n for n in FIELDS if _probes(n)])
def test_every_interface_takes_and_refuses_the_same_values(name):
    form_fields = _form_fields()
    for value, accepted in _probes(name):
        seen = {"api": _api(name, value)}
        seen.update({f"cli {c}": _cli(c, name, value) for c in _cli_commands(name)})
        if name in JOB_OPTIONS:
            seen["manifest"] = _manifest(name, value)
        if name in form_fields and name not in SERVER_LIMITED:
            seen["studio form"] = _form(name, value)
        assert set(seen.values()) == {accepted}, (name, value, seen)


# The studio narrows these to its server's limits (WebSettings: sizes from MIN_SIZE, the
# server's presets, iterations up to max_iterations): checked within the catalogue's below.
SERVER_LIMITED = {"size", "preset", "iterations"}


def _form_fields() -> set[str]:
    pytest.importorskip("starlette")
    from stylesynth.web.form import FORM_OPTIONS

    return set(FORM_OPTIONS)


def test_the_studios_server_limits_lie_within_the_catalogue():
    pytest.importorskip("starlette")
    from stylesynth.web.settings import MIN_SIZE, PRESET_ITERATIONS

    assert _form("size", MIN_SIZE) and _form("size", MAX_SIZE)
    assert not _form("size", 0) and not _form("size", MAX_SIZE + 1)
    assert FIELDS["size"].metadata["low"] <= MIN_SIZE and set(PRESET_ITERATIONS) <= set(FIELDS["preset"].metadata["choices"])
    assert _form("iterations", 1) and not _form("iterations", 0) and not _form("iterations", "ten")
    assert _form("preset", "fast") and not _form("preset", "single")  # not one the page offers


@pytest.mark.parametrize("command", COMMANDS)
def test_the_command_lines_defaults_are_the_catalogues(command):
    ctx = cli.commands[command].make_context(command, list(COMMANDS[command]))
    offered = [name for name in FIELDS if name in ctx.params]
    assert offered, command
    for name in offered:
        assert ctx.params[name] == FIELDS[name].default, (command, name)
    for param in cli.commands[command].params:  # bounds are the catalogue's, checked by the API
        if param.name in FIELDS:
            assert not isinstance(param.type, click.types._NumberRangeBase), (command, param.name)
            if isinstance(param.type, click.Choice):
                assert tuple(param.type.choices) == FIELDS[param.name].metadata["choices"], (command, param.name)


def test_batch_offers_exactly_its_manifest_columns_and_the_batch_wide_options():
    offered = {p.name for p in cli.commands["batch"].params if p.name in FIELDS}
    assert offered == set(JOB_OPTIONS) | set(BATCH_WIDE)
    with pytest.raises(InputError, match="cannot vary per job"):
        check_options({"device": "cpu"}, "")


def test_the_apis_signature_defaults_are_the_catalogues():
    for function in (transfer, video):
        for name, parameter in inspect.signature(function).parameters.items():
            if name in FIELDS and parameter.default is not inspect.Parameter.empty:
                assert parameter.default == FIELDS[name].default, (function.__name__, name)
    own = {f.name for f in dataclasses.fields(TransferOptions)}
    assert own <= set(inspect.signature(transfer).parameters)


def test_the_ratio_rule_is_one_rule():
    from stylesynth.engine.objective import LossWeights

    assert LossWeights.from_options() == LossWeights(DEFAULT_RATIO, 1.0)
    assert LossWeights.from_options(1e-3) == LossWeights(1e-3, 1.0)
    assert LossWeights.from_options(None, 5) == LossWeights(5, 1.0)
    # The classic preset: neural-style's 5 and 100 where left out; a ratio against its 100.
    assert LossWeights.from_options(preset="classic") == LossWeights(5.0, 100.0)
    assert LossWeights.from_options(1e-2, preset="classic") == LossWeights(1.0, 100.0)
    assert LossWeights.from_options(None, 1, preset="classic") == LossWeights(1, 100.0)
    message = "give either --ratio or --content-weight/--style-weight, not both"
    with pytest.raises(InputError, match=message):
        TransferOptions(ratio=1e-3, style_weight=2).check()
    with pytest.raises(InputError, match=message):  # a manifest row, as the command line
        check_options({"ratio": "1e-3", "content_weight": "2"}, "")


def test_the_studios_config_is_the_catalogue():
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from stylesynth.web.app import create_app
    from stylesynth.web.settings import RUN_OPTIONS, TRANSFER_OPTIONS

    client = TestClient(create_app(_form_settings()), base_url="http://localhost")
    config = client.get("/api/config").json()
    for key, options in (("options", RunOptions), ("transfer_options", TransferOptions)):
        entries = {name: {k: v for k, v in entry.items() if k != "set_by"} for name, entry in config[key].items()}
        assert entries == {name: {**e, "default": e["default"] if not callable(e["default"]) else None}
                           for name, e in catalogue(options).items()}
    assert set(TRANSFER_OPTIONS) == {f.name for f in dataclasses.fields(TransferOptions)}
    assert set(RUN_OPTIONS) == RUN
    assert config["ratio"]["default"] == DEFAULT_RATIO
    assert config["preserve_colors"]["choices"] == list(FIELDS["preserve_colors"].metadata["choices"])
    assert {name for name, role in {**RUN_OPTIONS, **TRANSFER_OPTIONS}.items() if role == "form"} == _form_fields()


# -- every mode's own options (options.MODE_OPTIONS) ---------------------------------------------

FUNCTIONS = {"reconstruct": reconstruct, "texture": texture, "transfer": transfer, "dream": dream,
             "video": video, "figure": figure}
# Each mode's command: its minimal arguments (inputs that do not exist).
MODE_COMMANDS = {"reconstruct": ["missing-input.png", "-o", "out.png"],
                 "texture": ["missing-input.png", "-o", "out.png"],
                 "transfer": ["missing-input.png", "missing-input.png", "-o", "out.png"],
                 "dream": ["missing-input.png", "-o", "out.png"],
                 "video": ["missing-input.mp4", "missing-input.png", "-o", "out.mp4"],
                 "figure": ["layers", "--content", "missing-input.png", "--style", "missing-input.png",
                            "-o", "out.png"]}
# What a command adds to its mode's options: its inputs and where the result goes.
COMMAND_LINE_ONLY = {*OUTPUT_OPTIONS, "extra_styles", "content", "style"}


def _own(mode: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(MODE_OPTIONS[mode])}


def _entry(mode: str, name: str) -> dataclasses.Field | None:
    """The catalogue's entry for `name` as `mode` takes it: its own, else the shared ones."""
    return _own(mode).get(name) or FIELDS.get(name)


def _mode_api(mode: str, name: str, value: object, folder) -> bool:
    """Whether the mode's function takes `name=value`: it checks every option before it opens
    its inputs, which do not exist (refused for them: the option was taken)."""
    missing = str(folder / "missing-input.png")
    calls = {"reconstruct": lambda **o: reconstruct(missing, **o),
             "texture": lambda **o: texture(missing, **o),
             "transfer": lambda **o: transfer(missing, missing, **o),
             "dream": lambda **o: dream(missing, **o),
             "video": lambda **o: video(str(folder / "missing-input.mp4"), missing, str(folder / "out.mp4"), **o),
             "figure": lambda **o: figure("layers", missing, missing, **o)}
    try:
        calls[mode](progress=False, **{name: value})
    except InputError as e:
        return "missing-input" in str(e)
    raise AssertionError(f"{mode} ran without its inputs")


def _mode_cli(mode: str, name: str, value: object, folder) -> bool:
    """What the mode's command makes of `--name value` (click's own types; figure's numbers
    separated by commas: its _numbers), then the mode's function, which the command calls."""
    param = next(p for p in cli.commands[mode].params if p.name == name)
    try:
        ctx = cli.commands[mode].make_context(mode, [*MODE_COMMANDS[mode], param.opts[0], _text(value)])
        given = ctx.params[name]
        if _entry(mode, name).metadata["kind"] is tuple:
            given = _numbers(given, param.opts[0])
    except (click.BadParameter, InputError):
        return False
    return _mode_api(mode, name, given, folder)


MODE_PROBES = [(mode, name) for mode in MODE_OPTIONS if mode != "transfer"  # transfer's: above
               for name, f in _own(mode).items() if _probes(name, f)]


@pytest.mark.parametrize("mode, name", MODE_PROBES)
def test_each_modes_command_line_and_function_take_and_refuse_the_same_values(mode, name, tmp_path):
    f = _own(mode)[name]
    for value, accepted in _probes(name, f):
        seen = {"api": _mode_api(mode, name, value, tmp_path)}
        if f.metadata["command_line"]:
            seen["cli"] = _mode_cli(mode, name, value, tmp_path)
        assert set(seen.values()) == {accepted}, (mode, name, value, seen)


def test_every_mode_has_options_to_probe():
    assert {mode for mode, _ in MODE_PROBES} == {"dream", "video", "figure"}  # reconstruct's and texture's: text


@pytest.mark.parametrize("mode", MODE_OPTIONS)
def test_each_modes_command_line_options_are_the_catalogues(mode):
    """Every option of the mode's command is a catalogue field (its own class's, else RunOptions'
    or TransferOptions') with the catalogue's default, help and choices and no bounds of click's
    own, or what the command line adds (inputs, output); every field of its own class is offered."""
    command = cli.commands[mode]
    ctx = command.make_context(mode, list(MODE_COMMANDS[mode]))
    offered = {p.name: p for p in command.params if isinstance(p, click.Option)}
    own = _own(mode)
    assert {name for name, f in own.items() if f.metadata["command_line"]} <= set(offered), mode
    for name, param in offered.items():
        entry = _entry(mode, name)
        if entry is None:
            assert name in COMMAND_LINE_ONLY, (mode, name)
            continue
        value = ctx.params[name]
        if entry.metadata["kind"] is tuple:
            value = _numbers(value, name)
        assert value == entry.default, (mode, name, value)
        if name in own:
            assert param.help == entry.metadata["help"], (mode, name)
        assert not isinstance(param.type, click.types._NumberRangeBase), (mode, name)
        if isinstance(param.type, click.Choice):
            assert tuple(param.type.choices) == entry.metadata["choices"], (mode, name)


@pytest.mark.parametrize("mode", MODE_OPTIONS)
def test_each_modes_function_defaults_are_the_catalogues(mode):
    parameters = inspect.signature(FUNCTIONS[mode]).parameters
    assert set(_own(mode)) <= set(parameters), mode
    for name, parameter in parameters.items():
        entry = _entry(mode, name)
        if entry is not None and parameter.default is not inspect.Parameter.empty:
            assert parameter.default == entry.default, (mode, name)


@pytest.mark.parametrize("mode", MODE_OPTIONS)
def test_each_modes_defaults_lie_within_its_bounds(mode):
    MODE_OPTIONS[mode]().check()
