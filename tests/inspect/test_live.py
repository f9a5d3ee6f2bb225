"""The live inspection page: the computations, the server's answers to bad requests, and a real browser."""
import base64
import http.client
import json
import os
import shutil
import time
import urllib.parse

import pytest
import torch

from trainlab.config import load_config
from trainlab.errors import TrainlabError
from trainlab.inspect.live import BadRequest, Inspector, inspector_for_checkpoint
from trainlab.runs import run_experiment

from ..conftest import write_exp
from .helpers import params

pytest.importorskip("starlette", reason="the live extra is not installed (pip install 'trainlab[live]')")
pytest.importorskip("uvicorn", reason="the live extra is not installed (pip install 'trainlab[live]')")

from trainlab.inspect.server import create_app, running  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    exp = write_exp(tmp_path_factory.mktemp("live") / "digits", params(probe=None, diagnostics=None))
    run_experiment(exp, load_config(exp, ["train.epochs=2", "logging.plot=true"]))
    return exp


@pytest.fixture(scope="module")
def inspector(trained) -> Inspector:
    return inspector_for_checkpoint(trained / "checkpoints" / "best.pt")


@pytest.fixture(scope="module")
def url(inspector, trained):
    with running(create_app(inspector, trained)) as base:
        yield base


def request(base: str, method: str, path: str, body: bytes | None = None) -> tuple[int, dict | bytes]:
    """A raw HTTP request (no client-side normalization of '..')."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return resp.status, data


def test_run_answers_what_the_page_shows_and_augmentations_change_it(inspector):
    image = inspector.image(0)
    assert image["label"] in inspector.data.class_names
    plain = inspector.run({"pixels": image["pixels"], "layer": "block1", "channel": 1})
    blurred = inspector.run({"pixels": image["pixels"], "layer": "block1", "channel": 1, "augment": {"blur": 2.0}})
    assert len(plain["top5"]) == 5 and abs(sum(p["prob"] for p in plain["top5"]) - 1) < 0.5
    assert plain["maps"].startswith("data:image/png;base64,") and plain["maps"] != blurred["maps"]
    assert plain["channel_max"] != blurred["channel_max"]
    # the neutral slider values are no augmentation at all
    neutral = {name: v for name, (_, _, v) in inspector.info()["sliders"].items()}
    assert inspector.run({"pixels": image["pixels"], "layer": "block1", "channel": 1, "augment": neutral}) \
        | {"ms": 0} == plain | {"ms": 0}


def test_the_default_layer_has_real_feature_maps(inspector):
    layer = inspector.info()["default_layer"]
    assert layer == "block2" and inspector.layers[layer][1:] == (4, 4)  # cnn_tiny: 8x8 digits, one 2x2 max-pool


@pytest.mark.parametrize("change, words", [
    ({"layer": "nope"}, "unknown layer"),
    ({"channel": 99}, "channel must be"),
    ({"channel": "1"}, "channel must be"),
    ({"pixels": "AAAA"}, "holds 3 bytes"),
    ({"pixels": "%%%"}, "not valid base64"),
    ({"pixels": 5}, "base64 string"),
    ({"augment": {"blur": 99}}, "augment.blur"),
    ({"augment": {"sharpen": 1}}, "unknown augmentation"),
    ({"augment": [1]}, "must be an object"),
    ({"center": "middle"}, "center"),
])
def test_bad_requests_raise_bad_request(inspector, change, words):
    good = {"pixels": inspector.image(0)["pixels"], "layer": "block1", "channel": 0}
    with pytest.raises(BadRequest, match=words):
        inspector.run(good | change)


def test_server_answers_bad_requests_with_4xx_json(url, inspector):
    assert request(url, "GET", "/api/info")[0] == 200
    status, body = request(url, "GET", "/api/image/100000")
    assert status == 404 and "outside the test split" in body["error"]
    status, body = request(url, "POST", "/api/run", b"{not json")
    assert status == 400 and "not JSON" in body["error"]
    status, body = request(url, "POST", "/api/run", json.dumps({"pixels": "AAAA"}).encode())
    assert status == 400 and "bytes" in body["error"]
    assert request(url, "GET", "/api/run")[0] == 405
    assert request(url, "GET", "/api/image/x")[0] == 404


def test_server_never_serves_files_outside_the_experiment(url, trained, tmp_path_factory):
    secret = trained.parent / "secret.json"
    secret.write_text('{"secret": 1}')
    (trained / "link.json").symlink_to(secret)
    assert request(url, "GET", "/files/training_history.png")[0] == 200
    for path in ["/files/../secret.json", "/files/%2e%2e/secret.json", "/files/viz/../../secret.json",
                 "/files/..%2Fsecret.json", "/files/link.json", f"/files/{secret}", "/files//etc/passwd"]:
        status, body = request(url, "GET", path)
        assert status in (403, 404), path
        assert b"secret" not in json.dumps(body).encode() or "outside" in body["error"], path
    assert request(url, "GET", "/files/checkpoints/best.pt")[0] == 404  # only pictures and tables
    assert request(url, "GET", "/files/params.json")[0] == 200


def test_page_lists_controls_and_links(url):
    status, page = request(url, "GET", "/")
    assert status == 200
    text = page.decode()
    assert 'id="canvas"' in text and "training_history.png" in text and "__LINKS__" not in text


def test_each_update_takes_under_200_ms(url, inspector):
    """The issue's budget on 2 CPU cores for the digits model: measured here through HTTP, median of 15."""
    body = json.dumps({"pixels": inspector.image(1)["pixels"], "layer": "block1", "channel": 0,
                       "augment": {"blur": 1.0, "noise": 0.1, "rotation": 10.0}}).encode()
    times = []
    for _ in range(15):
        start = time.perf_counter()
        assert request(url, "POST", "/api/run", body)[0] == 200
        times.append(time.perf_counter() - start)
    assert sorted(times)[7] < 0.2


def test_unknown_split_and_a_busy_port_are_clear_errors(trained, url, capsys):
    from trainlab.cli import main

    with pytest.raises(TrainlabError, match="split"):
        inspector_for_checkpoint(trained / "checkpoints" / "best.pt", split="nope")
    busy = urllib.parse.urlsplit(url).port
    assert main(["inspect", str(trained), "--port", str(busy)]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


# --------------------------------------------------------------------------- a real browser

def _chrome():
    """A headless Chromium driven through Debian's chromedriver (version-locked, no download), or a skip."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("no chromium/chromedriver on this machine (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_browser_draw_and_blur_change_the_maps_and_predictions(url, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _chrome()
    try:
        driver.get(url + "/")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: (d.find_element(By.ID, "fm").get_attribute("src") or "").startswith("data:image/png"))
        wait.until(lambda d: d.find_element(By.ID, "predictions").text.strip())

        def state():
            return (driver.find_element(By.ID, "fm").get_attribute("src") or "",
                    driver.find_element(By.ID, "predictions").text)

        def settled():  # the page sends the newest settings once the request in flight returns
            previous = None
            for _ in range(60):
                now = state()
                if now == previous:
                    return now
                previous = now
                time.sleep(0.4)
            return state()

        before = settled()
        canvas = driver.find_element(By.ID, "canvas")
        ActionChains(driver).move_to_element_with_offset(canvas, -100, -100).click_and_hold() \
            .move_by_offset(60, 40).move_by_offset(60, 40).move_by_offset(40, 60).release().perform()
        wait.until(lambda d: state() != before)
        drawn = settled()
        assert drawn[0] != before[0] and drawn[1] != before[1]

        slider = driver.find_element(By.ID, "aug-blur")
        slider.click()  # the middle of the track: sigma 2.5
        slider.send_keys(Keys.ARROW_RIGHT)
        wait.until(lambda d: state() != drawn)
        blurred = settled()
        assert float(driver.find_element(By.ID, "aug-blur").get_attribute("value")) > 0
        assert blurred[0] != drawn[0] and blurred[1] != drawn[1]

        # cut a rectangle from the source image and paste it into the top-left of the canvas
        source = driver.find_element(By.ID, "source")
        ActionChains(driver).move_to_element_with_offset(source, -10, -40).click_and_hold() \
            .move_by_offset(40, 60).release().perform()
        driver.find_element(By.ID, "tool-paste").click()
        ActionChains(driver).move_to_element_with_offset(canvas, -130, -130).click().perform()
        wait.until(lambda d: state() != blurred)
        assert settled()[0] != blurred[0]
        shot = os.environ.get("TRAINLAB_SCREENSHOT")  # set by benchmarks/inspect_page.py for docs/
        driver.save_screenshot(shot or str(tmp_path / "inspect.png"))
    finally:
        driver.quit()


def test_pixels_round_trip(inspector):
    raw = base64.b64decode(inspector.image(2)["pixels"])
    c, h, w = inspector.data.input_shape
    assert len(raw) == c * h * w and max(raw) > 200  # digits have ink
    assert torch.tensor(list(raw)).float().std() > 10
