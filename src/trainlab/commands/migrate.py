"""`trainlab migrate`: rewrite a legacy flat cs230 params.json in the sectioned form."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from ..errors import ConfigError
from ..verbs import verb


def _arguments(m: argparse.ArgumentParser) -> None:
    m.add_argument("params", type=Path)
    m.add_argument("--out", type=Path, default=None)


@verb("migrate", help="translate a legacy params.json into the new form", arguments=_arguments,
      description="Writes the new form over PARAMS (the original is kept as <name>.legacy.json) or to --out.",
      examples=["trainlab migrate old/params.json"])
def migrate(args: argparse.Namespace) -> int:
    from ..config import is_legacy, parse_config, read_params, translate_legacy
    from ..files import atomic_write_text

    src: Path = args.params
    if not src.is_file():
        raise ConfigError(f"{src} does not exist.")
    raw = read_params(src)
    if not is_legacy(raw):
        raise ConfigError(f"{src} is not in the legacy flat format; nothing to migrate.")
    new = translate_legacy(raw)
    parse_config(new, source=str(src))  # validate before writing anything
    text = json.dumps(new, indent=2) + "\n"
    out = args.out or src
    if out == src:
        backup = src.with_suffix(".legacy.json")
        if backup.exists():
            raise ConfigError(f"{backup} already exists; move it away or pass --out.")
        shutil.copy2(src, backup)
        if backup.read_bytes() != src.read_bytes():
            raise ConfigError(f"could not verify the backup {backup}; {src} left unchanged.")
    atomic_write_text(out, text)
    print(f"wrote {out}" + (f" (original kept as {src.with_suffix('.legacy.json')})" if out == src else ""))
    return 0

