"""What the deployment's own servers (PostgreSQL, Spark, Dagster's processes under test) share:
they listen on loopback, on a port the kernel hands out, and start able to be stopped."""

import signal
import socket

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def default_signals() -> None:
    """In a child before it starts (Popen's preexec_fn): a shell's background job ignores SIGINT
    and its children inherit that, some test runners' workers ignore SIGTERM, and a process that
    starts with a signal ignored keeps ignoring it (a JVM, Dagster's processes, which handle
    SIGTERM as SIGINT) and would not stop when asked."""
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
