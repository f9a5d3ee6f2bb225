"""``trainlab predict --save-vis DIR``: each image with its answer drawn on it (Pillow, no torch).

Detection: the boxes with class and score; classification: the best class and its probability; OCR: the
text read, under the line. Written as ``DIR/<image name>.png`` (a second image of the same name gets ``-2``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import writing
from ..images import read_image_file

COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#469990",
           "#9a6324")


class Drawer:
    """Draws records of one kind of task into ``folder``.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> d = Path(tempfile.mkdtemp()); Image.new("RGB", (40, 30)).save(d / "a.png")
        >>> rec = {"path": str(d / "a.png"), "detections": [{"class": "7", "class_id": 7, "score": 0.9,
        ...        "box": [2.0, 3.0, 20.0, 25.0]}], "width": 40, "height": 30}
        >>> Drawer(d / "vis", "detection")(rec).name
        'a.png'
    """

    def __init__(self, folder: Path, kind: str) -> None:
        self.folder, self.kind = Path(folder), kind
        self.used: set[Path] = set()

    def __call__(self, rec: dict[str, Any]) -> Path:
        from PIL import Image, ImageDraw

        img = Image.fromarray(read_image_file(rec["path"], channels=3))
        if self.kind == "ocr-ctc" or self.kind == "ocr-attention":
            framed = Image.new("RGB", (img.width, img.height + 14), "white")
            framed.paste(img, (0, 0))
            ImageDraw.Draw(framed).text((2, img.height + 1), rec["text"], fill="black")
            img = framed
        draw = ImageDraw.Draw(img)
        if self.kind == "classification":
            best = rec["top"][0]
            draw.text((2, 1), f"{best['class']} {best['prob']:.2f}", fill="#e6194b")
        elif self.kind == "detection":
            for d in rec["detections"]:
                colour = COLOURS[d["class_id"] % len(COLOURS)]
                draw.rectangle(d["box"], outline=colour, width=max(1, round(min(img.size) / 200)))
                draw.text((d["box"][0] + 2, d["box"][1] + 1), f"{d['class']} {d['score']:.2f}", fill=colour)
        target, k = self.folder / (Path(rec["path"]).stem + ".png"), 2
        while target in self.used:
            target, k = self.folder / f"{Path(rec['path']).stem}-{k}.png", k + 1
        self.used.add(target)
        with writing(target):
            self.folder.mkdir(parents=True, exist_ok=True)
            img.save(target)
        return target
