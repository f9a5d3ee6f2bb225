import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from trainlab.errors import MAX_LINE, ConfigError, TrainlabError, UnknownNameError, echo, listing, one_line, shorten


def test_a_multi_line_parser_report_becomes_one_line():
    message = "params.yaml: not valid YAML: while parsing a flow sequence\n  in line 1\r\n\n\texpected ',' or ']'"
    assert str(ConfigError(message)) == ("params.yaml: not valid YAML: while parsing a flow sequence in line 1 "
                                         "expected ',' or ']'")


def test_a_10k_value_is_cut_and_its_length_named():
    shown = echo("x" * 10_000)
    assert len(shown) < 90 and "10000 characters" in shown and shown.startswith("'xxx")
    assert echo(list(range(5000))).endswith("(list of 5000)")
    assert echo("short") == "'short'" and echo(3) == "3"


def test_a_too_long_message_keeps_its_start_and_its_hint():
    error = TrainlabError("what is wrong: " + "v" * 5000 + " How to fix it: do this.")
    text = str(error)
    assert len(text) == MAX_LINE and "\n" not in text
    assert text.startswith("what is wrong: ") and text.endswith("How to fix it: do this.") and " … " in text


def test_errors_survive_pickling_between_processes():
    """Search workers send errors back to the parent process: the folded message must round-trip."""
    for error in (ConfigError("a\nb"), UnknownNameError("unknown model 'x'")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)


def test_listing_counts_what_it_leaves_out():
    assert listing(["a", "b"]) == "a, b"
    long = listing([f"name{i}" for i in range(100)], limit=40)
    assert len(long) < 70 and long.endswith("(100 in all)")


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(10, 400))
def test_shorten_is_one_line_and_within_the_limit(text, limit):
    out = shorten(text, limit)
    assert len(out) <= limit and "\n" not in out and "\r" not in out
    if len(one_line(text)) <= limit:
        assert out == one_line(text)
