"""A real PostgreSQL server for the tests: Debian's ``postgresql`` (``make postgres`` installs it),
a fresh cluster in a temporary folder on 127.0.0.1 and a free port, password authentication with
a generated password; run as the ``postgres`` system user when the tests run as root (the server
refuses to run as root). Stopped and deleted afterwards. The cluster is thrown away, so it skips
the disk flushes a real one needs (``fsync``, ``synchronous_commit``, ``full_page_writes`` off):
what the tests check is the client side (Dagster's storage, the lake's catalog), and the
instance test's 15 runs on it took 101 s alone with the flushes, 90 s without.

Passwords are checked with ``md5``, not SCRAM: Dagster's PostgreSQL storage opens a connection
for every event it stores (SQLAlchemy's ``NullPool``), thousands in the scale-out test, and a
SCRAM handshake costs both sides a PBKDF2 of 4,096 rounds. Measured on loopback: a connection in
2.1 ms instead of 4.7, its client's CPU 0.3 ms instead of 2.5. The password is still required
and checked; only the server's hash of it differs."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from platform_assets_tests.sshd import free_port


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    db_name: str

    def env(self) -> dict[str, str]:
        """The variables the shipped ``dagster_home/storage-postgres.yaml`` reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db_name,
        }


def find_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is needed: `make postgres` installs Debian's postgresql")
    return Path(found[-1]).parent


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bin()
    root = Path(tempfile.mkdtemp(prefix="platform-pg-"))
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    password = secrets.token_urlsafe(16)
    port = free_port()
    (root / "pw").write_text(password)
    if as_root:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    data = root / "data"

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "dagster", "--auth=md5",
        f"--pwfile={root / 'pw'}", "-E", "UTF8")  # fmt: skip
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60",
        "-o", f"-h 127.0.0.1 -p {port} -k {root} -c max_connections=200 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c password_encryption=md5", "start")  # fmt: skip
    try:
        env = {**os.environ, "PGPASSWORD": password}
        deadline = time.monotonic() + 30
        while True:
            done = subprocess.run(
                [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster",
                 "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                # the password hashed for md5 first (initdb hashed it for SCRAM), on stdin and
                # not in the command line; the database once that has held
                input=f"ALTER ROLE dagster PASSWORD '{password}';\nCREATE DATABASE dagster;\n",
                env=env, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not answer: {done.stderr}")
            time.sleep(0.5)
        yield PostgresServer("127.0.0.1", port, "dagster", password, "dagster")
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
