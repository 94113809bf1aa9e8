"""What the command line names and offers, known without loading torch: the networks and their
layers (with each layer's output shape at 224 px: `stylesynth layers`), poolings, devices,
precisions, optimizers, start images, the default layers and ratio. `stylesynth --help` and
`stylesynth layers` answer from here in a fraction of a second; the modules that run the
networks (nets/networks.py, engine/optimize.py, engine/start.py, engine/objective.py) take their names from here too.
"""

from __future__ import annotations

# Channels per conv layer, "M" for a pooling layer (torchvision's configurations D and E).
VGG_CONFIGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# AlexNet's layers: (name, channels out, kernel, stride, padding); pooling 3x3, stride 2.
ALEXNET = [("conv1", 64, 11, 4, 2), ("relu1",), ("pool1",), ("conv2", 192, 5, 1, 2), ("relu2",), ("pool2",),
           ("conv3", 384, 3, 1, 1), ("relu3",), ("conv4", 256, 3, 1, 1), ("relu4",),
           ("conv5", 256, 3, 1, 1), ("relu5",), ("pool5",)]
NETWORKS = ("vgg16", "vgg19", "alexnet")
POOLINGS = ("max", "avg")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
OPTIMIZERS = ("lbfgs", "adam", "gd")
# Start images by name (or an image of one's own); "neural-style" is the classic recipe's, "blobs" textures'.
INITS = ("palette", "content", "noise", "style", "neural-style", "blobs")
PRESERVE_COLORS = ("none", "luminance", "histogram")  # engine/colors.py
FITS = ("crop", "pad")  # modes/transfer.py: how the content is brought to an exact out_size
FLOW_METHODS = ("dis", "farneback")  # modes/flow.py: video's optical flow
# The engine's input: RGB in [0, 1], normalized inside FeatureExtractor by ImageNet's statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Caffe's VGG input (the original VGG19, jcjohnson/neural-style): BGR in 0..255 less this mean
# pixel (B, G, R). weights.caffe_to_engine converts such weights to the input above.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
CAFFE_RANGE = 255.0

# The paper's layers are Caffe blobs, whose ReLUs work in place: its "conv4_2" is our relu4_2.
DEFAULT_CONTENT_LAYERS = "relu4_2"
# Every ReLU of blocks 1-4 plus relu5_1, the blocks weighted 2:4:3:1:1 (shared among a block's
# layers), where the paper weighs conv1_1..conv5_1 equally. History: docs/normalization.md.
DEFAULT_STYLE_LAYERS = ("relu1_1:0.0909,relu1_2:0.0909,relu2_1:0.1818,relu2_2:0.1818,relu3_1:0.0909,"
                        "relu3_2:0.0909,relu3_3:0.0909,relu4_1:0.0303,relu4_2:0.0303,relu4_3:0.0303,"
                        "relu5_1:0.0909")
# A transfer's default while the painting, at a scale, is smaller than DEEP_LAYERS_SIDE on its long
# side: block 4 at a third, no relu5_1. At full weight they painted a portrait's eyes into the
# photo's skies at 512 px; above it they hold the picture together (objective.style_layers_for;
# docs/normalization.md, "Objects of the painting").
SMALL_PAINTING_STYLE_LAYERS = ("relu1_1:0.0909,relu1_2:0.0909,relu2_1:0.1818,relu2_2:0.1818,relu3_1:0.0909,"
                               "relu3_2:0.0909,relu3_3:0.0909,relu4_1:0.01,relu4_2:0.01,relu4_3:0.01")
DEEP_LAYERS_SIDE = 1024
# alpha/beta in the paper's units (objective.CONTENT_SCALE maps them onto our relative terms);
# chosen with the judge (the paper's Fig. 2 uses 1e-3 and 1e-4): docs/normalization.md, "Units of α/β".
DEFAULT_RATIO = 3e-4


def layer_table(arch: str, side: int = 224) -> list[tuple[str, tuple[int, int, int]]]:
    """[(layer name, (channels, height, width))] of network `arch` for a side x side input,
    input to output: the arithmetic of its convolutions (padding keeps VGG's size) and poolings."""
    table = []
    if arch == "alexnet":
        channels = 3
        for name, *conv in ALEXNET:
            if conv:
                channels, kernel, stride, padding = conv
                side = (side + 2 * padding - kernel) // stride + 1
            elif name.startswith("pool"):
                side = (side - 3) // 2 + 1
            table.append((name, (channels, side, side)))
        return table
    block, index = 1, 1
    for item in VGG_CONFIGS[arch]:
        if item == "M":
            side //= 2
            table.append((f"pool{block}", (channels, side, side)))
            block, index = block + 1, 1
        else:
            channels = item
            table += [(f"conv{block}_{index}", (channels, side, side)), (f"relu{block}_{index}", (channels, side, side))]
            index += 1
    return table


def layer_names(arch: str) -> list[str]:
    """All layer names of a network, input to output."""
    return [name for name, _ in layer_table(arch)]
