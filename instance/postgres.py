"""A PostgreSQL server of the deployment's own, on loopback, for the Dagster instance: the same
storage a cluster uses (deploy/dagster.yaml), one setting away from the embedded SQLite.

The server lives in a folder the deployment owns (``<DAGSTER_HOME>/postgres``): its data, its
socket, its log, the port it listens on and the generated password of its one role, in a file
only its owner reads. It is made on first use (initdb, as the ``postgres`` user when run as
root: initdb refuses root) and reused afterwards; `make ui INSTANCE=postgres` starts it when it
is not running. Debian's PostgreSQL 15 (`make` installs it where missing).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from instance.local_servers import HOST, free_port

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
ROLE = "dagster"
DATABASE = "dagster"
PASSWORD_ENV = "DAGSTER_PG_PASSWORD"  # what the instance config reads, as on the cluster


class PostgresUnavailable(RuntimeError):
    """The server could not be made or started; the message says why and where to look."""


@dataclass(frozen=True)
class PostgresAddress:
    """Where the instance's database is, and its credentials."""

    host: str
    port: int
    database: str
    username: str
    password: str

    def with_database(self, database: str) -> PostgresAddress:
        """The same server and role, another database (made if missing)."""
        address = PostgresAddress(self.host, self.port, database, self.username, self.password)
        _create_database(address, timeout=30)
        return address

    def url(self) -> str:
        return (f"postgresql+psycopg2://{self.username}:{self.password}@{self.host}:"
                f"{self.port}/{self.database}")


def _binary(name: str) -> str:
    for directory in BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise PostgresUnavailable(f"PostgreSQL's {name} is not installed: `make` installs Debian's"
                                  " postgresql package (apt, as root or through sudo)")
    return found


class LocalPostgres:
    """The server in ``folder``: made, started, stopped, addressed."""

    def __init__(self, folder: Path):
        self.folder = Path(folder).resolve()
        self.data = self.folder / "data"

    # --- what the folder holds ---------------------------------------------------------------

    @property
    def password_file(self) -> Path:
        return self.folder / "password"

    @property
    def port(self) -> int:
        return int((self.folder / "port").read_text())

    def address(self) -> PostgresAddress:
        return PostgresAddress(HOST, self.port, DATABASE, ROLE,
                               self.password_file.read_text().strip())

    # --- running it ----------------------------------------------------------------------------

    def _as_server_user(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a server command as the folder's owner (postgres when we are root)."""
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, **kwargs)

    def _owned_by_server_user(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialized():
            return False
        return self._as_server_user([_binary("pg_ctl"), "status", "-D", str(self.data)]
                                    ).returncode == 0

    def initialize(self) -> None:
        """A new cluster with one password-protected role over TCP on loopback."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # the server user traverses it to its data
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        (self.folder / "port").write_text(str(free_port()))
        self.data.mkdir(mode=0o700)
        self._owned_by_server_user(self.data)
        handover = self.folder / ".initdb-password"  # read by initdb as the server user
        handover.write_text(password + "\n")
        handover.chmod(0o600)
        self._owned_by_server_user(handover)
        done = self._as_server_user([
            _binary("initdb"), "-D", str(self.data), "-U", ROLE, "--pwfile", str(handover),
            "--auth-host=scram-sha-256", "--auth-local=peer", "--encoding=UTF8",
            "--no-instructions"])
        handover.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)  # the next start tries afresh
            raise PostgresUnavailable(f"initdb in {self.data} failed: {done.stderr.strip()}")

    def start(self, timeout: float = 60) -> PostgresAddress:
        """Make the server if there is none, start it if it is not running, and make the
        instance's database; return its address."""
        if not self.initialized():
            self.initialize()
        if not self.running():
            socket_dir = self.folder / "socket"
            socket_dir.mkdir(exist_ok=True)
            self._owned_by_server_user(socket_dir)
            log = self.folder / "server.log"
            log.touch()
            self._owned_by_server_user(log)
            options = (f"-p {self.port} -k {socket_dir} -c listen_addresses={HOST}"
                       " -c max_connections=200")
            done = self._as_server_user([_binary("pg_ctl"), "-D", str(self.data), "-l", str(log),
                                         "-o", options, "-w", "-t", str(int(timeout)), "start"])
            if done.returncode != 0:
                raise PostgresUnavailable(
                    f"the instance's PostgreSQL in {self.folder} did not start:"
                    f" {done.stdout.strip()} {done.stderr.strip()} (its log: {log})")
        address = self.address()
        _create_database(address, timeout)
        return address

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._as_server_user([_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                                  "stop"])

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def _create_database(address: PostgresAddress, timeout: float) -> None:
    """Make the address's database when the server does not have it yet."""
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            con = psycopg2.connect(host=address.host, port=address.port, user=address.username,
                                   password=address.password, dbname="postgres")
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    con.autocommit = True
    with con.cursor() as cursor:
        cursor.execute("select 1 from pg_database where datname = %s", [address.database])
        if cursor.fetchone() is None:
            cursor.execute(f'create database "{address.database}"')
    con.close()
