"""Profile.table (aligned, G/M/K units), summary, to_json, and the unit formatter."""
import json

import pytest
import torch
from torch import nn

from trainlab.profile import Profile, count, format_count


@pytest.mark.parametrize("value,text", [
    (0, "0"), (999, "999"), (1_000, "1.00K"), (12_345, "12.3K"), (999_999, "1000K"),
    (4_089_184_256, "4.09G"), (25_557_032, "25.6M"), (3.2e12, "3.20T"), (-2_500, "-2.50K"),
])
def test_format_count(value, text):
    assert format_count(value) == text


@pytest.fixture(scope="module")
def profile() -> Profile:
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                        nn.Sequential(nn.Flatten(), nn.Linear(16 * 32 * 32, 10)))
    return count(net, torch.zeros(4, 3, 32, 32))


def test_table_is_aligned_with_units_and_one_line_per_module(profile):
    text = profile.table()
    lines = text.splitlines()
    header, rows = lines[0], lines[1:1 + len(profile.by_module)]
    assert header.split() == ["module", "type", "input", "output", "params", "forward", "backward"]
    # right-aligned number columns end where their header ends
    for column in ("params", "forward", "backward"):
        end = header.index(column) + len(column)
        assert all(row[end - 1] != " " and (len(row) == end or row[end] == " ") for row in rows)
    assert rows[1].startswith("  0 ") and "Conv2d" in rows[1] and "4x3x32x32" in rows[1]
    assert rows[5].startswith("    1 ") and "Linear" in rows[5]  # nested module indented twice
    conv_forward = format_count(profile.module("0").forward_flops)
    assert conv_forward.endswith("M") and conv_forward in rows[1]
    assert "forward " in text and "MACs" in text and "per sample" in text


def test_table_depth_and_totals_only(profile):
    shallow = profile.table(max_depth=1).splitlines()
    assert not any(line.startswith("    ") for line in shallow)
    assert len(profile.table().splitlines()) - len(shallow) == 2  # Flatten and Linear rows
    summary = profile.table(by_module=False)
    assert summary == profile.summary() and "module" not in summary
    assert format_count(profile.forward_flops) in summary


def test_to_json_round_trips_everything_a_cli_needs(profile):
    data = json.loads(profile.to_json())
    assert data["forward_flops"] == profile.forward_flops
    assert data["forward_macs"] == profile.forward_flops // 2
    assert data["total_flops"] == profile.forward_flops + profile.backward_flops
    assert data["params"] == 3 * 16 * 9 + 16 + 16 * 32 * 32 * 10 + 10
    assert [row["name"] for row in data["by_module"]] == ["", "0", "1", "2", "2.0", "2.1"]
    assert data["by_module"][1]["input_shapes"] == [[4, 3, 32, 32]]
    assert data["by_op"]["aten.convolution"]["forward"] == profile.module("0").forward_flops
    assert "one multiply-add = 2 FLOPs" in data["units"]
    assert json.loads(profile.to_json(indent=None)) == data
