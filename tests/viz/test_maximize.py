import pytest
import torch
from torch import nn

from trainlab.errors import ConfigError, ModelError
from trainlab.viz import activations, maximize

from .helpers import plus_detector, small_cnn


def test_a_unit_is_raised_far_above_its_value_on_noise():
    # Zero-mean plus detector: about 0.17 on uniform noise, at most 5 · 4/9 = 2.22 (a bright plus on black corners).
    result = maximize(plus_detector(), "1", neuron=(0, 4, 4), input_shape=(1, 10, 10), steps=80)
    assert result.noise_value < 0.3 and result.final_value > max(5 * result.noise_value, 0.6 * 5 * 4 / 9)
    assert result.curve[-1] > result.curve[0] and len(result.curve) == 80


def test_the_model_is_left_alone_and_values_are_the_models_own():
    net = small_cnn().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = maximize(net, "5", channel=2, input_shape=(1, 16, 16), steps=20, n=2, mean=[0.5], std=[0.25])
    assert result.images.shape == (2, 1, 16, 16) and 0 <= float(result.images.min()) <= float(result.images.max()) <= 1
    measured = activations(net, result.inputs, "5")["5"][:, 2].mean(dim=(1, 2))
    assert measured.tolist() == pytest.approx(result.values, rel=1e-4)
    assert net.training and all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in net.parameters())


def test_pattern_detector_learns_its_pattern():
    result = maximize(plus_detector(), "1", neuron=(0, 4, 4), input_shape=(1, 10, 10), steps=80,
                      parameterization="pixel", blur_every=20, blur_sigma=0.3)
    patch = result.images[0, 0, 4:7, 4:7]  # the unit's 3×3 receptive field
    plus = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=torch.bool)
    assert float(patch[plus].min()) > float(patch[~plus].max())  # bright plus on dark corners


@pytest.mark.parametrize("parameterization", ["fft", "pixel"])
def test_class_maximization_of_a_linear_model_approaches_its_optimum(parameterization):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    w, b = net[1].weight[1].detach(), float(net[1].bias[1].detach())
    best = float(w.clamp_min(0).sum()) + b  # pixels in [0, 1]: 1 where the weight is positive
    result = maximize(net, class_index=1, input_shape=(1, 8, 8), steps=100, lr=0.1, parameterization=parameterization)
    assert result.final_value - result.noise_value > 0.9 * (best - result.noise_value)


def test_a_dead_channel_gets_a_gradient_through_the_redirected_relu():
    dead = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU())
    with torch.no_grad():
        dead[0].weight.fill_(0.1)
        dead[0].bias.fill_(-0.7)  # on only where 9 pixels sum over 7: off everywhere on the starting image
    off = maximize(dead, "1", channel=0, input_shape=(1, 8, 8), steps=40, redirect_relu=False)
    on = maximize(dead, "1", channel=0, input_shape=(1, 8, 8), steps=40)
    assert off.curve[0] == on.curve[0] == 0.0
    assert off.final_value == 0.0 and on.final_value > 0.01


def test_target_validation():
    net = small_cnn()
    with pytest.raises(ConfigError, match="exactly one target"):
        maximize(net, "5", input_shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="exactly one target"):
        maximize(net, "5", channel=0, class_index=1, input_shape=(1, 8, 8))
    with pytest.raises(ModelError, match="out of range"):
        maximize(net, "5", channel=99, input_shape=(1, 8, 8), steps=1)
    with pytest.raises(ModelError, match="class_index"):
        maximize(net, "5", class_index=0, input_shape=(1, 8, 8), steps=1)
