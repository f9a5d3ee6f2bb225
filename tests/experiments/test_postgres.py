"""A search whose study lives in PostgreSQL (what several machines share). Runs only where a PostgreSQL
server (initdb, pg_ctl) and the psycopg driver are installed; a throwaway cluster in tmp_path."""
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from trainlab.experiments.search import run_search

pytestmark = pytest.mark.slow


def _bin(name):
    found = shutil.which(name)
    if found is None and os.path.isdir("/usr/lib/postgresql"):
        versions = sorted(os.listdir("/usr/lib/postgresql"))
        candidate = f"/usr/lib/postgresql/{versions[-1]}/bin/{name}" if versions else ""
        found = candidate if os.path.exists(candidate) else None
    return found


@pytest.fixture
def postgres_url():
    pytest.importorskip("psycopg")
    initdb, pg_ctl, createdb = _bin("initdb"), _bin("pg_ctl"), _bin("createdb")
    if not (initdb and pg_ctl and createdb):
        pytest.skip("PostgreSQL server binaries are not installed")
    # the cluster lives outside pytest's tmp_path, which only root may enter
    base = tempfile.mkdtemp(prefix="trainlab-pg-")
    as_user = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' user")
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(base, pw.pw_uid, pw.pw_gid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data, sock = os.path.join(base, "pgdata"), base
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(initdb, "-D", data, "-U", "postgres", "--auth=trust")
    run(pg_ctl, "-D", data, "-l", os.path.join(base, "server.log"), "-w",
        "-o", f"-k {sock} -p {port} -c listen_addresses=''", "start")
    try:
        run(createdb, "-h", sock, "-p", str(port), "-U", "postgres", "trainlab")
        yield f"postgresql+psycopg://postgres@/trainlab?host={sock}&port={port}"
    finally:
        run(pg_ctl, "-D", data, "-w", "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_two_folders_join_one_study_in_postgres(tmp_path, lab, postgres_url):
    params = lab.tiny(space={"optim.lr": [0.003, 0.03]}, sampler="grid")
    one = lab.write(tmp_path / "machine1" / "s", params)
    two = lab.write(tmp_path / "machine2" / "s", params)
    first = run_search(one, storage=postgres_url, plot=False)
    assert first.counts == {"complete": 2} and first.storage.startswith("postgresql+psycopg://postgres@/trainlab")
    second = run_search(two, storage=postgres_url, plot=False)  # same study name (the folder's name "s")
    assert second.ran == 0 and second.counts == {"complete": 2}
    assert not any((two / f).is_dir() for f in ("lr=0.003", "lr=0.03"))
