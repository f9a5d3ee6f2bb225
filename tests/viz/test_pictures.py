"""Every picture is written, large enough to read, and shows what it claims."""
import numpy as np
import pytest
import torch
from PIL import Image

from trainlab.viz import (activation_change, augment_and_watch, compare_filters, feature_maps, layer_weights, maximize,
                          receptive_field, saliency, top_patches)
from trainlab.viz import pictures as P

from .helpers import plus_dataset, plus_detector, small_cnn


def size_of(path):
    with Image.open(path) as im:
        return im.size


def test_to_display_unnormalizes_and_keeps_rgb():
    x = torch.zeros(1, 4, 4)
    assert np.allclose(P.to_display(x, [0.25], [0.5]), 0.25)
    rgb = P.to_display(torch.rand(3, 5, 6))
    assert rgb.shape == (5, 6, 3) and rgb.min() == 0 and rgb.max() == 1


def test_small_images_are_blown_up(tmp_path):
    net = small_cnn()
    maps = feature_maps(net, torch.randn(1, 8, 8), "2")  # six 8×8 maps
    path = P.plot_feature_maps(maps, tmp_path / "maps.png", title="conv", image=P.to_display(torch.randn(1, 8, 8)))
    w, h = size_of(path)
    assert w >= 300 and h >= 250  # 7 cells of 8 pixels would be 56 px wide at 1:1


def test_every_plot_writes_a_png(tmp_path):
    net, images = plus_detector(), plus_dataset()[0]
    paths = [
        P.plot_filters(small_cnn()[4].weight, tmp_path / "filters_many.png", title="4"),
        P.plot_filters(small_cnn()[0].weight, tmp_path / "filters_one.png", title="0"),
        P.plot_filters(torch.randn(5, 3, 3, 3), tmp_path / "filters_rgb.png", title="rgb"),
        P.plot_weight_histograms(layer_weights(small_cnn()), tmp_path / "hist.png", title="weights"),
        P.plot_top_patches(top_patches(net, "1", 0, images, k=4), tmp_path / "top.png", class_names=None),
        P.plot_receptive_field(receptive_field(net, "1", (1, 12, 12)), tmp_path / "rf.png",
                               image=P.to_display(images[3]), input_hw=(12, 12)),
        P.plot_maximization(maximize(net, "1", channel=0, input_shape=(1, 12, 12), steps=5, n=2),
                            tmp_path / "max.png", title="max"),
        P.plot_attributions(images[:2], saliency(small_cnn(), images[:2]), tmp_path / "sal.png", method="saliency",
                            titles=["a", "b"]),
        P.plot_sweeps(augment_and_watch(net, "1", 0, images[3], ["blur", "rotation"]), tmp_path / "sweep.png",
                      title="sweep"),
        P.plot_filter_comparison(compare_filters(small_cnn(), small_cnn(), "0"), tmp_path / "cmp.png"),
        P.plot_activation_change(images[0], images[3], activation_change(net, "1", 0, images[0], images[3]),
                                 tmp_path / "change.png", title="paste"),
    ]
    for path in paths:
        w, h = size_of(path)
        assert w >= 250 and h >= 150, path.name


def test_top_patch_boxes_are_drawn_in_red(tmp_path):
    images, _ = plus_dataset()
    result = top_patches(plus_detector(), "1", 0, images, k=1)
    with Image.open(P.plot_top_patches(result, tmp_path / "top.png")) as im:
        pixels = np.asarray(im.convert("RGB")).astype(int)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 50


@pytest.mark.parametrize("n_inputs", [1, 4])
def test_filter_grid_shape(tmp_path, n_inputs):
    path = P.plot_filters(torch.randn(4, n_inputs, 3, 3), tmp_path / "f.png", title="f")
    assert size_of(path)[0] >= 300
