"""Tests for stylesynth.nets.networks: layer names and shapes, partial forward passes, normalization,
frozen parameters, pooling, devices. Random-weight networks throughout: none of this depends
on the pretrained values (weights files, where needed, are random ones written here)."""

from __future__ import annotations

import io
import os
import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stylesynth.nets import networks as nets
from stylesynth.cli import main
from stylesynth.errors import InputError
from stylesynth.names import NETWORKS, POOLINGS, layer_table
from stylesynth.nets.networks import FeatureExtractor, layer_names, pick_device, set_threads
from stylesynth.nets.pretrained import load_network

CLOSED = "http://127.0.0.1:9/"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
VGG_BLOCKS = {"vgg16": [2, 2, 3, 3, 3], "vgg19": [2, 2, 4, 4, 4]}
VGG_CHANNELS = [64, 128, 256, 512, 512]
ALEXNET = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3",
           "conv4", "relu4", "conv5", "relu5", "pool5"]
ALEXNET_SHAPES_224 = {  # torchvision's AlexNet features at 224 px
    "conv1": (64, 55, 55), "relu1": (64, 55, 55), "pool1": (64, 27, 27),
    "conv2": (192, 27, 27), "relu2": (192, 27, 27), "pool2": (192, 13, 13),
    "conv3": (384, 13, 13), "relu3": (384, 13, 13), "conv4": (256, 13, 13),
    "relu4": (256, 13, 13), "conv5": (256, 13, 13), "relu5": (256, 13, 13),
    "pool5": (256, 6, 6),
}


def vgg_names(arch: str) -> list[str]:
    names = []
    for block, convs in enumerate(VGG_BLOCKS[arch], 1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def vgg_shapes_224(arch: str) -> dict[str, tuple[int, int, int]]:
    shapes = {}
    for block, convs in enumerate(VGG_BLOCKS[arch], 1):
        side, channels = 224 >> (block - 1), VGG_CHANNELS[block - 1]
        for i in range(1, convs + 1):
            shapes[f"conv{block}_{i}"] = shapes[f"relu{block}_{i}"] = (channels, side, side)
        shapes[f"pool{block}"] = (channels, side // 2, side // 2)
    return shapes


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Never the user's cache or the network; no weights file from the environment."""
    monkeypatch.setenv("STYLESYNTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STYLESYNTH_TORCHVISION_URL", CLOSED)
    monkeypatch.setenv("STYLESYNTH_INDEX_URL", CLOSED + "simple/")
    for arch in nets.NETWORKS:
        monkeypatch.delenv(f"STYLESYNTH_WEIGHTS_{arch.upper()}", raising=False)


def net_with_random_weights(arch: str, pooling: str = "max", seed: int = 0) -> FeatureExtractor:
    torch.manual_seed(seed)
    return FeatureExtractor(arch, pooling)


def weights_file(arch: str, path) -> str:
    net = net_with_random_weights(arch, seed=5)
    torch.save({f"features.{k}": v for k, v in net.features.state_dict().items()}, path)
    return str(path)


def cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as e:
            code = 0 if e.code is None else e.code
    return code, out.getvalue(), err.getvalue()


# -- 1. layer names and shapes ------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_vgg_layer_names(arch):
    names = FeatureExtractor(arch).layer_names
    assert names == vgg_names(arch) == layer_names(arch)
    convs = [n for n in names if n.startswith("conv")]
    assert len(convs) == {"vgg16": 13, "vgg19": 16}[arch]
    assert convs[0] == "conv1_1" and convs[-1] == {"vgg16": "conv5_3", "vgg19": "conv5_4"}[arch]
    assert [n for n in names if n.startswith("pool")] == [f"pool{b}" for b in range(1, 6)]


@pytest.mark.parametrize("arch", ["vgg16", "vgg19", "alexnet"])
def test_names_match_the_modules(arch):
    net = FeatureExtractor(arch)
    assert len(net.layer_names) == len(net.features) == len(set(net.layer_names))
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, module in zip(net.layer_names, net.features, strict=True):
        assert type(module) is kinds[name[:4]], (name, module)


def test_alexnet_layer_names():
    assert FeatureExtractor("alexnet").layer_names == ALEXNET == layer_names("alexnet")


@pytest.mark.parametrize("arch", ["vgg16", "vgg19", "alexnet"])
def test_shapes_at_224(arch):
    """Shapes of every layer for a 224 px input (on the meta device: no arithmetic needed)."""
    net = FeatureExtractor(arch).to("meta")
    out = net(torch.empty(1, 3, 224, 224, device="meta"), net.layer_names)
    expected = ALEXNET_SHAPES_224 if arch == "alexnet" else vgg_shapes_224(arch)
    assert {name: tuple(t.shape[1:]) for name, t in out.items()} == expected
    if arch == "vgg16":
        assert expected["pool5"] == (512, 7, 7) and expected["conv4_2"] == (512, 28, 28)


@pytest.mark.parametrize("arch", ["vgg16", "alexnet"])
def test_layers_command_prints_shapes_at_224(arch, tmp_path):
    path = weights_file(arch, tmp_path / f"{arch}.pth")
    code, out, err = cli(["layers", "--model", arch, "--weights", path])
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()]
    expected = ALEXNET_SHAPES_224 if arch == "alexnet" else vgg_shapes_224(arch)
    assert [name for name, _ in rows] == list(expected)
    assert {name: shape for name, shape in rows} == \
        {name: "x".join(map(str, shape)) for name, shape in expected.items()}


@pytest.mark.parametrize("arch", NETWORKS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_the_static_layer_table_is_the_networks(arch, pooling):
    """names.layer_table (what `stylesynth layers` prints without torch) against a forward pass."""
    net = FeatureExtractor(arch, pooling)
    with torch.no_grad():
        out = net(torch.rand(1, 3, 224, 224), net.layer_names)
    assert [(name, tuple(out[name].shape[1:])) for name in net.layer_names] == layer_table(arch)


# -- 2. only up to the deepest layer asked for ----------------------------------------------------

class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("ran past the deepest layer asked for")


def test_forward_runs_only_up_to_the_deepest_layer():
    net = net_with_random_weights("vgg16")
    net.features[net.layer_names.index("conv2_1")] = Boom()
    x = torch.rand(1, 3, 32, 32)
    out = net(x, ["relu1_2", "conv1_1"])
    assert set(out) == {"relu1_2", "conv1_1"}
    assert out["relu1_2"].shape == (1, 64, 32, 32)
    assert net(x, ["pool1"])["pool1"].shape == (1, 64, 16, 16)
    for layers in (["conv2_1"], ["conv1_1", "relu5_3"], ["pool5"]):
        with pytest.raises(RuntimeError, match="ran past"):
            net(x, layers)


def test_forward_calls_exactly_the_modules_up_to_the_deepest():
    net = net_with_random_weights("alexnet")
    called = []
    for index, module in enumerate(net.features):
        module.register_forward_hook(lambda m, i, o, index=index: called.append(index))
    net(torch.rand(1, 3, 64, 64), ["pool2", "conv1"])
    assert called == list(range(ALEXNET.index("pool2") + 1))
    called.clear()
    assert net(torch.rand(1, 3, 64, 64), []) == {}
    assert called == []


# -- 3. normalization inside --------------------------------------------------------------------

def test_imagenet_normalization_happens_inside():
    net = net_with_random_weights("vgg16")
    x = torch.rand(2, 3, 20, 24)
    out = net(x, ["conv1_1", "relu1_1"])
    conv = net.features[0]
    expected = F.conv2d((x - MEAN) / STD, conv.weight, conv.bias, padding=1)
    assert torch.allclose(out["conv1_1"], expected, atol=1e-6, rtol=0)
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp(min=0))
    unnormalized = F.conv2d(x, conv.weight, conv.bias, padding=1)
    assert (out["conv1_1"] - unnormalized).abs().max() > 0.1  # the check above can fail


def test_alexnet_normalization_and_stride():
    net = net_with_random_weights("alexnet")
    x = torch.rand(1, 3, 67, 67)
    conv = net.features[0]
    expected = F.conv2d((x - MEAN) / STD, conv.weight, conv.bias, stride=4, padding=2)
    # 363-term sums, channels-last (oneDNN) vs NCHW: they round differently at ~1e-6 on AVX2
    assert torch.allclose(net(x, ["conv1"])["conv1"], expected, atol=1e-5, rtol=0)


def test_normalization_constants_are_buffers_not_parameters():
    net = FeatureExtractor("vgg16")
    buffers = dict(net.named_buffers())
    assert torch.equal(buffers["mean"], MEAN) and torch.equal(buffers["std"], STD)
    assert not any(name in ("mean", "std") for name, _ in net.named_parameters())


# -- 4. frozen parameters ------------------------------------------------------------------------

def test_parameters_are_frozen_and_the_input_gets_the_gradient():
    net = net_with_random_weights("vgg16")
    assert not net.training
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    features = net(x, ["conv1_1", "relu3_3", "pool5"])
    loss = sum(f.square().mean() for f in features.values())
    loss.backward()
    params = list(net.parameters())
    assert len(params) == 26
    for p in params:
        assert p.grad is None and not p.requires_grad
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_loaded_network_is_frozen_and_in_eval_mode(tmp_path):
    net = load_network("alexnet", device="cpu", weights=weights_file("alexnet", tmp_path / "a.pth"))
    assert not net.training and not any(m.training for m in net.modules())
    assert all(not p.requires_grad for p in net.parameters())
    assert net.mean.device.type == "cpu"


# -- 5. pooling and bad names ---------------------------------------------------------------------

@pytest.mark.parametrize("arch, kernel", [("vgg16", 2), ("vgg19", 2), ("alexnet", 3)])
def test_avg_pooling_replaces_max_pooling(arch, kernel):
    max_net, avg_net = FeatureExtractor(arch, "max"), FeatureExtractor(arch, "avg")
    assert avg_net.layer_names == max_net.layer_names
    for name, m, a in zip(max_net.layer_names, max_net.features, avg_net.features, strict=True):
        if name.startswith("pool"):
            assert type(m) is nn.MaxPool2d and type(a) is nn.AvgPool2d
            assert (a.kernel_size, a.stride) == (kernel, 2) and (m.kernel_size, m.stride) == (kernel, 2)
        else:
            assert type(m) is type(a)
    assert not any(isinstance(m, nn.MaxPool2d) for m in avg_net.modules())


def test_avg_pooling_changes_the_result():
    max_net = net_with_random_weights("vgg16", "max")
    avg_net = FeatureExtractor("vgg16", "avg")
    avg_net.features.load_state_dict(max_net.features.state_dict())
    x = torch.rand(1, 3, 32, 32)
    a, m = avg_net(x, ["relu1_2", "pool1", "conv2_1"]), max_net(x, ["relu1_2", "pool1", "conv2_1"])
    assert torch.equal(a["relu1_2"], m["relu1_2"])
    assert torch.allclose(a["pool1"], F.avg_pool2d(a["relu1_2"], 2, 2))
    assert torch.equal(m["pool1"], F.max_pool2d(m["relu1_2"], 2, 2))
    assert not torch.allclose(a["pool1"], m["pool1"]) and not torch.allclose(a["conv2_1"], m["conv2_1"])


def test_unknown_network_lists_the_choices():
    with pytest.raises(InputError, match="resnet50") as info:
        FeatureExtractor("resnet50")
    assert all(arch in str(info.value) for arch in ("vgg16", "vgg19", "alexnet"))
    with pytest.raises(InputError, match="vgg16, vgg19, alexnet"):
        load_network("vgg11", device="cpu")


def test_unknown_pooling_lists_the_choices():
    with pytest.raises(InputError) as info:
        FeatureExtractor("vgg16", pooling="min")
    assert "min" in str(info.value) and "max" in str(info.value) and "avg" in str(info.value)


@pytest.mark.parametrize("arch, bad", [("vgg16", "conv5_4"), ("vgg19", "conv6_1"),
                                       ("alexnet", "conv1_1"), ("vgg16", "conv1")])
def test_unknown_layer_lists_the_valid_layers(arch, bad):
    net = FeatureExtractor(arch)
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(InputError) as info:
        net(x, ["relu1_1" if arch != "alexnet" else "relu1", bad])
    message = str(info.value)
    assert f"'{bad}'" in message and arch in message and "\n" not in message
    assert ", ".join(net.layer_names) in message
    with pytest.raises(InputError):
        net.check_layers([bad])
    assert net.check_layers(net.layer_names[:2]) == net.layer_names[:2]


# -- 6. ReLU does not overwrite returned conv activations ------------------------------------------

@pytest.mark.parametrize("arch, conv, relu", [("vgg16", "conv1_1", "relu1_1"),
                                              ("vgg19", "conv3_4", "relu3_4"),
                                              ("alexnet", "conv2", "relu2")])
def test_conv_activations_keep_their_negative_values(arch, conv, relu):
    net = net_with_random_weights(arch)
    assert all(not m.inplace for m in net.modules() if isinstance(m, nn.ReLU))
    out = net(torch.rand(1, 3, 64, 64), [conv, relu])
    assert out[conv].min() < 0
    assert out[relu].min() >= 0
    assert torch.equal(out[relu], out[conv].clamp(min=0))


# -- 7. devices and threads -----------------------------------------------------------------------

def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    expected = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    assert pick_device("auto") == torch.device(expected) == pick_device()
    if torch.cuda.is_available():
        assert pick_device("cuda") == torch.device("cuda")
    else:
        with pytest.raises(InputError, match="cuda"):
            pick_device("cuda")
    if not mps:
        with pytest.raises(InputError, match="mps"):
            pick_device("mps")
    with pytest.raises(InputError, match="tpu"):
        pick_device("tpu")


def test_load_network_refuses_an_unavailable_device(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(InputError, match="cuda"):
        load_network("alexnet", device="cuda", weights=weights_file("alexnet", tmp_path / "a.pth"))


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [0, -3])
def test_set_threads_refuses_less_than_one(threads, restore_threads):
    before = torch.get_num_threads()
    with pytest.raises(InputError, match="--threads"):
        set_threads(threads)
    assert torch.get_num_threads() == before


def test_set_threads_sets_torch_threads(restore_threads, monkeypatch):
    set_threads(1)
    assert torch.get_num_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    set_threads(None)
    assert torch.get_num_threads() == max(1, os.cpu_count() or 1)


def test_pick_dtype_follows_the_precision_and_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    assert nets.pick_dtype("float32", cpu) is None
    assert nets.pick_dtype("bfloat16", cpu) is torch.bfloat16
    assert nets.pick_dtype("float16", cpu) is torch.float16
    monkeypatch.setattr(nets, "_cpu_has_native_bf16", lambda: True)
    assert nets.pick_dtype("auto", cpu) is torch.bfloat16
    monkeypatch.setattr(nets, "_cpu_has_native_bf16", lambda: False)
    assert nets.pick_dtype("auto", cpu) is None  # emulated bfloat16 would be slower than float32
    with pytest.raises(InputError, match="unknown precision 'half'"):
        nets.pick_dtype("half", cpu)


def test_bfloat16_features_and_losses_stay_close_to_float32():
    from stylesynth.engine.losses import StyleLoss, gram_matrix

    net = net_with_random_weights("vgg16")
    image = torch.rand(1, 3, 64, 48)
    exact = net(image, ["conv1_1", "conv3_1"])
    fast = net(image, ["conv1_1", "conv3_1"], dtype=torch.bfloat16)
    assert fast["conv3_1"].dtype == torch.bfloat16 and exact["conv3_1"].dtype == torch.float32
    for name in exact:
        g, g16 = gram_matrix(exact[name]), gram_matrix(fast[name])
        assert g16.dtype == torch.float32
        assert ((g16 - g).norm() / g.norm()).item() < 0.02
    target = gram_matrix(net(torch.rand(1, 3, 64, 48), ["conv3_1"])["conv3_1"])
    loss = StyleLoss(target)
    assert loss(fast["conv3_1"]).item() == pytest.approx(loss(exact["conv3_1"]).item(), rel=0.02)
    # The gradient reaches the float32 input through the bfloat16 network.
    x = image.clone().requires_grad_(True)
    loss(net(x, ["conv3_1"], dtype=torch.bfloat16)["conv3_1"]).backward()
    assert x.grad.dtype == torch.float32 and x.grad.abs().sum() > 0


def test_gram_matrix_is_the_same_for_nchw_and_nhwc_maps():
    from stylesynth.engine.losses import gram_matrix

    features = torch.randn(1, 8, 5, 7)
    flat = features.reshape(8, -1)
    expected = flat @ flat.T / 35
    assert torch.allclose(gram_matrix(features), expected, atol=1e-5)
    assert torch.allclose(gram_matrix(features.contiguous(memory_format=torch.channels_last)), expected, atol=1e-5)
