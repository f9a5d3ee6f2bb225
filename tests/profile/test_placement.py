"""Where a count runs: throw-away parameters, inputs moved to the device, the batch size."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from trainlab.errors import ConfigError
from trainlab.profile.placement import batch_size, call_args, check_device, move_input, swap_in


def test_swap_in_keeps_tied_weights_tied_and_shares_no_buffer():
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = nn.Sequential(emb, head, nn.BatchNorm1d(10))
    for device in ("meta", "cpu"):
        swapped = swap_in(model, torch.device(device))
        assert swapped["0.weight"] is swapped["1.weight"]
        assert swapped["0.weight"].requires_grad and swapped["0.weight"].device.type == device
        assert swapped["2.running_mean"].data_ptr() != model[2].running_mean.data_ptr() or device == "meta"
    cpu = swap_in(model, torch.device("cpu"))
    assert cpu["0.weight"].data_ptr() == emb.weight.data_ptr()  # parameters are not copied
    assert cpu["0.weight"] is not emb.weight


def test_meta_tensors_become_zeros_on_cpu():
    model = nn.Linear(3, 2, device="meta")
    swapped = swap_in(model, torch.device("cpu"))
    assert torch.equal(swapped["weight"], torch.zeros(2, 3))


def test_move_input_keeps_packed_batch_sizes_on_cpu_and_structure():
    packed = pack_padded_sequence(torch.randn(4, 2, 3), torch.tensor([4, 2]))
    moved = move_input({"x": packed, "extra": [torch.zeros(2), 5]}, torch.device("meta"))
    assert moved["x"].data.device.type == "meta"
    assert moved["x"].batch_sizes.device.type == "cpu"
    assert torch.equal(moved["x"].batch_sizes, packed.batch_sizes)
    assert moved["extra"][0].device.type == "meta" and moved["extra"][1] == 5


def test_batch_size_and_call_args():
    packed = pack_padded_sequence(torch.randn(4, 3, 2), torch.tensor([4, 2, 1]))
    assert batch_size(torch.zeros(5, 2)) == 5
    assert batch_size(packed) == 3
    assert batch_size((torch.zeros(6, 1), torch.zeros(2))) == 6
    assert batch_size({"a": torch.zeros(7)}) == 7
    assert batch_size(torch.tensor(1.0)) == 1
    assert call_args(packed) == ((packed,), {})
    assert call_args([1, 2]) == ((1, 2), {})


@pytest.mark.parametrize("bad", ["tpu", "nonsense:device", 3.5])
def test_check_device_rejects_what_cannot_count(bad):
    with pytest.raises(ConfigError, match="use one of meta, cpu, cuda"):
        check_device(bad)
