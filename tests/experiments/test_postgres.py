"""A search spread over launches that share only a PostgreSQL database and the search folder (what several
machines with a shared filesystem do), on a throwaway cluster: initdb into a temporary folder, run by a
non-root user, on a free localhost port, stopped and deleted afterwards.

Needs PostgreSQL's server binaries (``initdb``, ``pg_ctl``; Debian: ``apt-get install postgresql``, which
``.ci/run`` does) and the psycopg driver (in the ``dev`` extra). Without them the test is skipped, or
fails where ``TRAINLAB_REQUIRE_POSTGRES=1`` (CI) says they must be there.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import trainlab

SRC = str(Path(trainlab.__file__).parent.parent)
LRS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032]
EPOCHS = 12


def _missing(reason: str):
    if os.environ.get("TRAINLAB_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (TRAINLAB_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found is None and os.path.isdir("/usr/lib/postgresql"):
        for version in sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: int(v) if v.isdigit() else 0,
                              reverse=True):
            candidate = f"/usr/lib/postgresql/{version}/bin/{name}"
            if os.path.exists(candidate):
                return candidate
    return found


@pytest.fixture(scope="module")
def postgres_url():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("the psycopg driver is not installed (pip install -e '.[dev]')")
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not (initdb and pg_ctl):
        _missing("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    base = tempfile.mkdtemp(prefix="trainlab-pg-")  # not under tmp_path: only root may enter that
    as_user = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root: use the user the package created
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root and there is no 'postgres' user to run the server")
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(base, pw.pw_uid, pw.pw_gid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = os.path.join(base, "pgdata")

    def run(*cmd):
        return subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    run(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    # a throwaway database: durability off makes every commit cheap
    opts = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off")
    run(pg_ctl, "-D", data, "-l", os.path.join(base, "server.log"), "-w", "-o", opts, "start")
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE trainlab")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/trainlab"
    finally:
        run(pg_ctl, "-D", data, "-w", "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _launch(parent: Path, url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [sys.executable, "-m", "trainlab", "search", str(parent), "--workers", "2", "--storage", url, "--no-plot"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _trial_files(parent: Path) -> dict[str, dict]:
    found = {}
    for path in parent.glob("*/trial.json"):
        try:
            found[path.parent.name] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):  # being replaced right now
            pass
    return found


def _epochs(folder: Path) -> int:
    try:
        return len(json.loads((folder / "history.json").read_text())["rows"])
    except (OSError, json.JSONDecodeError, KeyError):
        return 0


def _in_group(pid: int, group: int) -> bool:
    try:
        return os.getpgid(pid) == group
    except ProcessLookupError:
        return False


def test_two_launches_share_one_search_through_postgres_and_survive_a_kill(tmp_path, lab, postgres_url):
    import optuna

    params = lab.tiny(epochs=EPOCHS, space={"optim.lr": LRS}, sampler="grid")
    params["data"]["args"]["samples"] = 384
    parent = lab.write(tmp_path / "shared" / "search", params)
    first, second = _launch(parent, postgres_url, tmp_path / "a.log"), _launch(parent, postgres_url, tmp_path / "b.log")
    try:
        killed, deadline = {}, time.time() + 180
        while not killed:  # kill the first launch (coordinator and workers) in the middle of one of its trials
            assert time.time() < deadline and first.poll() is None, (tmp_path / "a.log").read_text()[-3000:]
            for name, info in _trial_files(parent).items():
                if info["state"] == "running" and _in_group(info["pid"], first.pid) \
                        and 2 <= _epochs(parent / name) < EPOCHS - 2:
                    os.killpg(first.pid, signal.SIGKILL)
                    first.wait()
                    killed = {n: (parent / n / "checkpoints" / "last.pt").is_file()  # its last.pt, if any
                              for n, i in _trial_files(parent).items()
                              if i["state"] == "running" and not _in_group(i["pid"], second.pid)}
                    break
            time.sleep(0.02)
        again = _launch(parent, postgres_url, tmp_path / "a2.log")
        for proc, log in ((again, "a2.log"), (second, "b.log")):
            assert proc.wait(timeout=300) == 0, (tmp_path / log).read_text()[-3000:]
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)

    study = optuna.load_study(study_name="search", storage=postgres_url)
    superseded = set(study.user_attrs.get("superseded", []))
    counted = [t for t in study.trials if t.number not in superseded]
    # every planned trial done exactly once
    assert sorted(t.params["optim.lr"] for t in counted) == LRS
    assert {t.state.name for t in counted} == {"COMPLETE"}
    # the killed trials were stopped, re-queued and run again in their folders, resuming their last.pt
    assert any(killed.values())
    for name, had_checkpoint in killed.items():
        runs = [t for t in study.trials if t.user_attrs.get("folder") == name]
        dead = [t for t in runs if t.state.name == "FAIL"]
        assert len(dead) == 1 and dead[0].user_attrs.get("interrupted") and dead[0].number in superseded
        retry = [t for t in runs if t.user_attrs.get("retry_of") == dead[0].number]
        assert len(retry) == 1 and retry[0].state.name == "COMPLETE" and retry[0].number not in superseded
        assert json.loads((parent / name / "params.resolved.json").read_text())["_run"]["resumed"] is had_checkpoint
    for name in _trial_files(parent):  # each epoch of each trial recorded once
        assert [r["epoch"] for r in json.loads((parent / name / "history.json").read_text())["rows"]] == \
            list(range(1, EPOCHS + 1))
    # results.md rows = trial folders = trials in the database
    folders = _trial_files(parent)
    rows = [line for line in (parent / "results.md").read_text().splitlines() if line.startswith("| ")][1:]
    assert len(rows) == len(folders) == len(counted) == len(LRS)
    assert {i["state"] for i in folders.values()} == {"complete"}


def test_the_study_lock_of_a_postgresql_search_is_held_in_the_database(tmp_path, postgres_url):
    from sqlalchemy import create_engine, text

    from trainlab.experiments.storage import StorageSpec, _lock_key, study_lock

    spec = StorageSpec("url", postgres_url)
    stores = [spec.open(), spec.open()]  # a second open finds the tables the first created
    other = create_engine(postgres_url)
    try:
        key = _lock_key("trainlab-search:locked")
        with study_lock(spec, stores[0], tmp_path, "locked"):  # tmp_path: no file lock is involved
            with other.begin() as conn:
                assert conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar() is False
        with other.begin() as conn:
            assert conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar() is True
        assert not (tmp_path / ".claim.lock").exists()
    finally:
        other.dispose()
