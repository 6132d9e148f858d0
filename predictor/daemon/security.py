"""Where the daemon may listen, the ipc socket file's permissions, and CurveZMQ keys.

* Endpoints: ``ipc://`` (socket file created under umask 077 and chmod 0600) and ``tcp://`` on a
  loopback address; anything else only with ``allow_remote``.
* CurveZMQ: ``predictor keys generate DIR`` writes ``zmq.auth`` key pairs; the daemon loads its
  secret key and allows the client public keys found in a directory, checked by a ZAP handler
  (``zmq.auth.thread.ThreadAuthenticator``): a client whose key is not allowed gets no answer.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterator

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from predictor.errors import EndpointError, KeyFileError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

__all__ = ["EndpointError", "KeyFileError", "bind_private", "check_endpoint", "generate_keys", "load_keypair",
           "load_public_key", "remove_socket_file", "start_curve"]


def ipc_path(endpoint: str) -> Path | None:
    """Return the socket file of an ``ipc://`` endpoint, else None."""
    return Path(endpoint[len("ipc://"):]) if endpoint.startswith("ipc://") else None


def check_endpoint(endpoint: str, *, allow_remote: bool = False) -> None:
    """Refuse transports and addresses the daemon must not listen on by default."""
    if endpoint.startswith("ipc://"):
        path = endpoint[len("ipc://"):]
        if not path or path.startswith("@"):
            raise EndpointError(f"{endpoint}: expected ipc://<path of a socket file> (abstract sockets have no permissions)")
        if len(path.encode()) > 107:
            raise EndpointError(f"{endpoint}: socket path is {len(path.encode())} bytes, the system limit is 107")
        return
    if endpoint.startswith("tcp://"):
        host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
        if host not in LOOPBACK_HOSTS and not allow_remote:
            raise EndpointError(f"{endpoint}: tcp is allowed on loopback only ({', '.join(LOOPBACK_HOSTS[:3])}); "
                                "pass --allow-remote (and use CurveZMQ) to listen elsewhere")
        return
    raise EndpointError(f"{endpoint}: expected an ipc:// or tcp:// endpoint")


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Create files readable and writable by their owner only while inside."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def bind_private(socket: zmq.Socket, endpoint: str) -> None:
    """Bind SOCKET to ENDPOINT; an ipc socket file is created 0600 (its directory 0700 when new)."""
    path = ipc_path(endpoint)
    if path is None:
        socket.bind(endpoint)
        return
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    with private_umask():
        socket.bind(endpoint)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def remove_socket_file(endpoint: str) -> None:
    """Remove an ipc endpoint's socket file if it is still there."""
    path = ipc_path(endpoint)
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def generate_keys(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write NAME.key (public) and NAME.key_secret (secret, 0600) into DIRECTORY; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with private_umask():
        public, secret = zmq.auth.create_certificates(str(directory), name)
    os.chmod(secret, stat.S_IRUSR | stat.S_IWUSR)
    return Path(public), Path(secret)


def load_keypair(path: str | Path) -> tuple[bytes, bytes]:
    """Return (public, secret) from a ``.key_secret`` file written by :func:`generate_keys`."""
    path = Path(path)
    if not path.is_file():
        raise KeyFileError(f"{path}: no such key file (create one with `predictor keys generate DIR`)")
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as exc:
        raise KeyFileError(f"{path}: not a CurveZMQ certificate: {exc}") from exc
    if secret is None:
        raise KeyFileError(f"{path}: holds a public key only; expected the .key_secret file")
    return public, secret


def load_public_key(path: str | Path) -> bytes:
    """Return the public key of a ``.key`` or ``.key_secret`` file."""
    path = Path(path)
    if not path.is_file():
        raise KeyFileError(f"{path}: no such key file")
    try:
        public, _ = zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as exc:
        raise KeyFileError(f"{path}: not a CurveZMQ certificate: {exc}") from exc
    return public


def start_curve(context: zmq.Context, socket: zmq.Socket, secret_key_file: str | Path,
                allowed_clients_dir: str | Path) -> ThreadAuthenticator:
    """Make SOCKET a CURVE server allowing only the public keys in ALLOWED_CLIENTS_DIR; return the authenticator."""
    allowed = Path(allowed_clients_dir)
    if not allowed.is_dir():
        raise KeyFileError(f"{allowed}: no such directory of allowed client public keys")
    public, secret = load_keypair(secret_key_file)
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(allowed))
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    return authenticator
