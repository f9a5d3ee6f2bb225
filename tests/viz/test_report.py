import json

from trainlab.viz.report import update_index


def test_index_accumulates_runs_and_replaces_rewritten_pictures(tmp_path):
    update_index(tmp_path, [(tmp_path / "a.png", "first <a>"), (tmp_path / "b.png", "second")], title="exp & co")
    index = update_index(tmp_path, [(tmp_path / "a.png", "first again")], title="exp & co")
    html = index.read_text()
    assert html.count('<img src="a.png"') == 1 and '<img src="b.png"' in html
    assert "first again" in html and "first &lt;a&gt;" not in html and "exp &amp; co" in html
    assert html.index("a.png") < html.index("b.png")  # newest first
    items = json.loads((tmp_path / "viz.json").read_text())["items"]
    assert [it["file"] for it in items] == ["a.png", "b.png"]
