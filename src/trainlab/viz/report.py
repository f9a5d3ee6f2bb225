"""``index.html``: the pictures of an output folder with their captions, newest first.

Each call adds entries to ``viz.json`` in the folder (a picture written again keeps one entry, with its
new caption) and rewrites ``index.html`` from it, so several ``trainlab viz`` runs into the same
folder build one page.
"""
from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from pathlib import Path

from ..files import atomic_write_text

MANIFEST = "viz.json"


def update_index(out_dir: Path, entries: Sequence[tuple[Path, str]], *, title: str) -> Path:
    """Record ``(png, caption)`` pairs in ``out_dir/viz.json`` and rewrite ``out_dir/index.html``.

    Example:
        >>> update_index(tmp_path, [(tmp_path / "filters.png", "stem.0 filters")], title="digits")  # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"title": title, "items": []}
    names = {Path(p).name for p, _ in entries}
    items = [it for it in manifest["items"] if it["file"] not in names]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    items = [{"file": Path(p).name, "caption": c, "time": stamp} for p, c in entries] + items
    manifest = {"title": title, "items": items}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1))
    figures = "\n".join(
        f'<figure><a href="{html.escape(it["file"])}"><img src="{html.escape(it["file"])}" '
        f'alt="{html.escape(it["caption"])}"></a><figcaption>{html.escape(it["caption"])}'
        f'<br><small>{html.escape(it["file"])} · {html.escape(it["time"])}</small></figcaption></figure>'
        for it in items)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; background: #fafafa; }}
figure {{ display: inline-block; vertical-align: top; margin: 0 1.5em 2em 0; max-width: 100%; }}
img {{ max-width: min(100%, 1100px); border: 1px solid #ddd; background: white; }}
figcaption {{ max-width: 900px; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
{figures}
</body></html>
"""
    index = out_dir / "index.html"
    atomic_write_text(index, page)
    return index
