"""RNN/LSTM/GRU FLOPs in every configuration, the same on meta (reference path, counted through
torch's mm formulas), CPU (oneDNN LSTM kernel, counted by trainlab's formula) and cuDNN/MIOpen
(formula checked against the meta count with arguments laid out by the op's own schema)."""
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from trainlab.profile import count
from trainlab.profile.rnn_formulas import dense_formulas, elementwise_formulas

GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}
DEVICES = ["meta", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def hand_count(cls, *, input_size, hidden, layers, bidirectional, steps, batch, proj=0, lengths=None,
               input_grad=False, initial_state_grad=False):
    """Forward and backward matmul FLOPs of a stacked RNN, written out from its equations."""
    gates, directions = GATES[cls], 2 if bidirectional else 1
    state = proj or hidden
    if lengths is not None:
        batch_sizes = [sum(length > t for length in lengths) for t in range(max(lengths))]
    forward = backward = 0
    for layer in range(layers):
        layer_in = input_size if layer == 0 else state * directions
        for direction in range(directions):
            rows = sum(lengths) if lengths is not None else steps * batch
            # rows whose recurrent input is the initial state: the first step of this direction
            # (for a packed batch run backwards, the shortest group; the others join later)
            first = batch if lengths is None else batch_sizes[-1 if direction else 0]
            x_mm = 2 * rows * gates * hidden * layer_in          # W_ih x_t
            h_mm = 2 * rows * gates * hidden * state             # W_hh h_(t-1)
            p_mm = 2 * rows * proj * hidden                      # W_hr (o * tanh c)
            forward += x_mm + h_mm + p_mm
            backward += x_mm + h_mm + p_mm                       # weight gradients
            backward += x_mm if (layer > 0 or input_grad) else 0  # gradient of the layer input
            h_rows = rows if initial_state_grad else rows - first
            backward += 2 * h_rows * gates * hidden * state      # gradient of h_(t-1)
            backward += p_mm                                     # gradient into the projection
    return forward, backward


class Recurrent(nn.Module):
    """An RNN returning its output sequence only (what a loss would use)."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x, *state):
        out = self.rnn(x, *state)[0]
        return out.data if isinstance(out, torch.nn.utils.rnn.PackedSequence) else out


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "LSTM with projections is not supported with oneDNN"
        yield


CONFIGS = [  # (cls, layers, bidirectional, batch_first, proj, other arguments)
    (nn.LSTM, 1, False, False, 0, {}),
    (nn.LSTM, 2, True, True, 0, {"dropout": 0.3}),  # dropout between layers: no matmul
    (nn.LSTM, 2, True, False, 3, {}),
    (nn.GRU, 2, True, True, 0, {}),
    (nn.GRU, 3, False, False, 0, {"bias": False}),
    (nn.RNN, 2, True, False, 0, {}),
    (nn.RNN, 1, False, True, 0, {"nonlinearity": "relu"}),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls,layers,bidirectional,batch_first,proj,other", CONFIGS)
def test_stacked_rnn_matches_hand_count_on_every_device(device, cls, layers, bidirectional,
                                                        batch_first, proj, other):
    steps, batch, input_size, hidden = 5, 3, 8, 6
    rnn = cls(input_size, hidden, num_layers=layers, bidirectional=bidirectional,
              batch_first=batch_first, **({"proj_size": proj} if proj else {}), **other)
    x = torch.randn(batch, steps, input_size) if batch_first else torch.randn(steps, batch, input_size)
    expected = hand_count(cls, input_size=input_size, hidden=hidden, layers=layers,
                          bidirectional=bidirectional, steps=steps, batch=batch, proj=proj)
    p = count(Recurrent(rnn), x, device=device)
    assert (p.forward_flops, p.backward_flops) == expected
    assert p.module("rnn").forward_flops == expected[0]
    assert p.notes == ()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_initial_state_and_input_gradients_are_counted_when_required(device, cls):
    rnn = Recurrent(cls(4, 5, num_layers=2, bidirectional=True))
    x = torch.randn(6, 2, 4, requires_grad=True)
    h0 = torch.randn(4, 2, 5, requires_grad=True)
    state = (h0, torch.randn(4, 2, 5, requires_grad=True)) if cls is nn.LSTM else h0
    p = count(rnn, (x, state), device=device)
    expected = hand_count(cls, input_size=4, hidden=5, layers=2, bidirectional=True, steps=6,
                          batch=2, input_grad=True, initial_state_grad=True)
    assert (p.forward_flops, p.backward_flops) == expected
    assert p.backward_flops == 2 * p.forward_flops  # every gradient requested: exactly 2x


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("cls,bidirectional", [(nn.LSTM, False), (nn.LSTM, True), (nn.GRU, True),
                                               (nn.RNN, False)])
def test_packed_sequences_count_only_real_time_steps(device, cls, bidirectional):
    lengths = [7, 4, 4, 1]
    rnn = cls(3, 5, bidirectional=bidirectional)
    packed = pack_padded_sequence(torch.randn(7, 4, 3), torch.tensor(lengths))
    p = count(Recurrent(rnn), packed, device=device)
    expected = hand_count(cls, input_size=3, hidden=5, layers=1, bidirectional=bidirectional,
                          steps=7, batch=4, lengths=lengths)
    assert (p.forward_flops, p.backward_flops) == expected
    padded = count(Recurrent(rnn), torch.randn(7, 4, 3), device=device)
    assert p.forward_flops * 28 == padded.forward_flops * sum(lengths)  # 16 real steps of 28
    assert p.batch_size == 4


class CRNN(nn.Module):
    """A CNN feeding a bidirectional LSTM along the image width, as in text-line recognition."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.rnn = nn.LSTM(4 * 4, 10, bidirectional=True, batch_first=True)
        self.head = nn.Linear(20, 7)

    def forward(self, x):
        f = self.cnn(x)  # (B, 4, 4, W/2)
        f = f.permute(0, 3, 1, 2).flatten(2)  # (B, W/2, 16)
        return self.head(self.rnn(f)[0])


@pytest.mark.parametrize("include_elementwise", [False, True])
def test_cnn_to_bilstm_gets_rnn_flops_on_every_device(include_elementwise):
    model, x = CRNN(), torch.randn(2, 1, 8, 20)
    fwd, bwd = hand_count(nn.LSTM, input_size=16, hidden=10, layers=1, bidirectional=True,
                          steps=10, batch=2, input_grad=True)
    rows = {}
    for device in DEVICES:
        p = count(model, x, device=device, include_elementwise=include_elementwise)
        rnn = p.module("rnn")
        rows[device] = rnn.forward_flops
        assert rnn.forward_flops > 0 and rnn.backward_flops > 0
        if not include_elementwise:
            assert (rnn.forward_flops, rnn.backward_flops) == (fwd, bwd)
        else:  # gates: 9H arithmetic + 4H gate sum + 8H biases per row (forward matches the meta path)
            assert rnn.forward_flops == fwd + 2 * 10 * 2 * 10 * 21
    assert len(set(rows.values())) == 1


def test_cpu_lstm_goes_through_the_fused_onednn_kernel():
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN")
    p = count(Recurrent(nn.LSTM(4, 6)), torch.randn(5, 2, 4), device="cpu")
    assert p.by_op["aten.mkldnn_rnn_layer"][0] == p.forward_flops > 0
    assert p.by_op["aten.mkldnn_rnn_layer_backward"][1] == p.backward_flops > 0


def schema_args(op, values):
    """Positional arguments for ``op`` in the order of its schema, from a name -> value dict."""
    return tuple(values[a.name] for a in op.default._schema.arguments)


STACKS = [  # (cls, layers, bidirectional, batch_first, proj, lengths)
    (nn.LSTM, 2, True, False, 0, None),
    (nn.LSTM, 2, False, True, 3, None),
    (nn.GRU, 2, True, True, 0, None),
    (nn.RNN, 1, True, False, 0, [5, 3, 1]),
    (nn.LSTM, 1, True, False, 0, [5, 5, 2]),
]


@pytest.mark.parametrize("cls,layers,bidirectional,batch_first,proj,lengths", STACKS)
@pytest.mark.parametrize("backend", ["_cudnn_rnn", "miopen_rnn"])
def test_gpu_kernel_formulas_agree_with_the_reference_path(backend, cls, layers, bidirectional,
                                                           batch_first, proj, lengths):
    if backend == "miopen_rnn" and proj:
        pytest.skip("MIOpen has no LSTM projections")
    rnn = cls(4, 6, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
              **({"proj_size": proj} if proj else {}))
    x = torch.randn(3, 5, 4) if batch_first else torch.randn(5, 3, 4)
    example = x if lengths is None else pack_padded_sequence(x, torch.tensor(lengths),
                                                             batch_first=batch_first)
    reference = count(Recurrent(rnn), example, device="meta")

    batch_sizes = [] if lengths is None else example.batch_sizes.tolist()
    mode = {nn.RNN: 1, nn.LSTM: 2, nn.GRU: 3}[cls]
    values = dict(
        input=example.data if lengths is not None else x, weight=list(rnn._flat_weights),
        weight_stride0=len(rnn._flat_weights) // (layers * (2 if bidirectional else 1)),
        weight_buf=None, hx=torch.zeros(1), cx=None, mode=mode, hidden_size=6, proj_size=proj,
        num_layers=layers, batch_first=batch_first, dropout=0.0, train=True,
        bidirectional=bidirectional, batch_sizes=batch_sizes, dropout_state=None, output=None,
        grad_output=None, grad_hy=None, grad_cy=None, reserve=None,
        output_mask=[False, False, False, True],  # input needs no grad, no initial state given
    )
    op, backward_op = getattr(torch.ops.aten, backend), getattr(torch.ops.aten, backend + "_backward")
    formulas = dense_formulas()
    assert formulas[op](*schema_args(op, values)) == reference.forward_flops
    assert formulas[backward_op](*schema_args(backward_op, values)) == reference.backward_flops

    gates = elementwise_formulas()[op](*schema_args(op, values))
    per_row = {nn.LSTM: 21, nn.GRU: 16, nn.RNN: 4}[cls] * 6
    rows = sum(lengths) if lengths else 15
    assert gates == per_row * rows * layers * (2 if bidirectional else 1)
