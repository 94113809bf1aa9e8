"""Every size (issue 32): with `paint_size` a result smaller than it is painted larger (at most
PAINT_UPSCALE times) and downscaled; by default at its own size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import stylesynth
from stylesynth.errors import InputError
from stylesynth.modes.transfer import PAINT_SIZE, PAINT_UPSCALE, painting_size

from conftest import CONTENT, STYLE, run_cli


def test_painting_size_scales_up_small_results_only():
    assert PAINT_SIZE == 512 and PAINT_UPSCALE == pytest.approx(4 / 3)
    assert painting_size((384, 288), 512) == (512, 384)  # the studio's and video's default size
    assert painting_size((256, 192), 512) == (341, 256)  # at most 4/3 larger
    assert painting_size((300, 400), 512) == (384, 512)
    assert painting_size((640, 480), 512) == (640, 480)  # larger results are painted as they are
    assert painting_size((256, 192), 0) == painting_size((256, 192), None) == (256, 192)


@pytest.mark.usefixtures("vgg16_weights")
def test_a_small_result_is_the_painted_one_downscaled_and_records_both_sizes(tmp_path):
    small = stylesynth.transfer(CONTENT, STYLE, size=96, paint_size=128, seed=3, iterations=4, progress=False)
    large = stylesynth.transfer(CONTENT, STYLE, size=128, paint_size=128, seed=3, iterations=4, progress=False)
    assert small.size == (96, 72) and large.size == (128, 96)
    assert np.array_equal(np.asarray(small), np.asarray(large.resize((96, 72), Image.LANCZOS)))
    record = small.info["stylesynth"]
    assert record["size"] == [96, 72] and record["painted_at"] == [128, 96] and record["paint_size"] == 128
    native = stylesynth.transfer(CONTENT, STYLE, size=96, seed=3, iterations=4, progress=False)  # the default
    assert native.info["stylesynth"]["painted_at"] == [96, 72] and native.info["stylesynth"]["paint_size"] is None
    assert not np.array_equal(np.asarray(native), np.asarray(small))
    # the command line's default is the API's, and the record reproduces the result
    out = tmp_path / "small.png"
    assert run_cli(["transfer", str(CONTENT), str(STYLE), "-o", str(out), "--size", "96", "--paint-size", "128",
                    "--seed", "3", "--iterations", "4", "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(small))
    assert stylesynth.read_params(out)["painted_at"] == [128, 96]


def test_a_bad_paint_size_is_one_error(capsys):
    with pytest.raises(InputError, match="paint size"):
        stylesynth.transfer(CONTENT, STYLE, size=64, paint_size=1.5)
    assert run_cli(["transfer", str(CONTENT), str(STYLE), "-o", "x.png", "--paint-size", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--paint-size" in err[0], err
