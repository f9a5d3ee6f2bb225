"""How long one update of the live inspection page takes (``trainlab inspect``), through HTTP.

Trains a copy of an example experiment (default ``experiments/digits-cnn``) in a temporary folder unless
``--exp`` names a trained one, starts the page's server on a free localhost port, and sends ``--requests``
updates as the page does (a changed image, a blur/noise/rotation setting, a layer and channel), each
different from the last. Prints the median and 95th percentile of the round trip (client to server and
back, PNGs included) and of the server's own computation.

With ``--screenshot PNG`` it also opens the page in headless Chromium (Selenium with Debian's chromium and
chromium-driver), draws a stroke, sets the blur slider and saves a screenshot (docs/inspect_page.png).

    python benchmarks/inspect_latency.py [--exp EXP] [--requests 100] [--threads 2] [--layer block1] [--screenshot PNG]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import torch


def trained_copy(example: Path, folder: Path) -> Path:
    from trainlab.config import load_config
    from trainlab.runs import run_experiment

    exp = folder / example.name
    exp.mkdir(parents=True)
    shutil.copy(next(example.glob("params.*")), exp)
    run_experiment(exp, load_config(exp, ["logging.progress=none", "logging.tensorboard=false"]))
    return exp


def screenshot(url: str, path: Path) -> None:
    """The page after loading image 7, a stroke across it and blur 0.5, in headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,760"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        browser.get(url + "/")
        done = WebDriverWait(browser, 60)
        done.until(lambda b: b.execute_script("return document.getElementById('predictions').children.length") > 0)
        browser.execute_script("""
            const set = (id, v) => { const e = document.getElementById(id); e.value = v;
                                     e.dispatchEvent(new Event(id === 'index' ? 'change' : 'input')); };
            set('index', 7); set('aug-blur', 0.5); set('aug-rotation', 10); set('brush', 1.2);""")
        time.sleep(2)
        canvas = browser.find_element(By.ID, "canvas")
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(browser).move_to_element_with_offset(canvas, -90, 90).click_and_hold() \
            .move_by_offset(90, -30).move_by_offset(90, -30).release().perform()
        time.sleep(2)
        browser.save_screenshot(str(path))
    finally:
        browser.quit()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--exp", type=Path, help="a trained experiment folder (default: train experiments/digits-cnn)")
    p.add_argument("--example", type=Path, default=Path("experiments/digits-cnn"))
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--layer", default=None, help="default: the page's default layer")
    p.add_argument("--screenshot", type=Path, help="also save a screenshot of the page here")
    args = p.parse_args()
    from trainlab.inspect.live import inspector_for_checkpoint
    from trainlab.inspect.server import create_app, running

    with tempfile.TemporaryDirectory() as tmp:
        exp = args.exp or trained_copy(args.example, Path(tmp))
        inspector = inspector_for_checkpoint(exp / "checkpoints" / "best.pt")
        torch.set_num_threads(args.threads)  # after the Learner set the experiment's own thread count
        layer = args.layer or inspector.default_layer
        with running(create_app(inspector, exp)) as url:
            rounds, server = [], []
            for i in range(args.requests + 5):  # the first 5 warm up
                image = inspector.image(i % inspector.num_images)["pixels"]
                body = json.dumps({"pixels": image, "layer": layer, "channel": i % inspector.layers[layer][0],
                                   "augment": {"blur": (i % 10) / 4, "noise": 0.05, "rotation": float(i % 30)}})
                start = time.perf_counter()
                req = urllib.request.Request(url + "/api/run", data=body.encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req) as resp:
                    out = json.load(resp)
                if i >= 5:
                    rounds.append(1000 * (time.perf_counter() - start))
                    server.append(out["ms"])
            if args.screenshot:
                screenshot(url, args.screenshot)

    def q95(xs: list[float]) -> float:
        return sorted(xs)[int(0.95 * (len(xs) - 1))]

    print(f"{exp.name}: layer {layer}, {args.requests} updates, {args.threads} threads, torch {torch.__version__}")
    print(f"round trip  median {statistics.median(rounds):6.1f} ms   p95 {q95(rounds):6.1f} ms   max {max(rounds):6.1f} ms")
    print(f"server      median {statistics.median(server):6.1f} ms   p95 {q95(server):6.1f} ms")


if __name__ == "__main__":
    main()
