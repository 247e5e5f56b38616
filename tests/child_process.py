"""A Python child process that answers requests over a pipe.

Used for what must not happen in the test process: the TF1 oracle (legacy
Keras, tests/tf1_oracle.py) and reloading `.keras` files in a process that
has imported nothing but keras and keras_rnnkit (tests/reload_server.py).
Requests and replies are pickled dicts; an exception in the child comes back
and is raised in the test process.
"""

import os
import pickle
import struct
import subprocess
import sys


def send(stream, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def receive(stream):
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError("the child process closed its pipe")
    (size,) = struct.unpack("<Q", header)
    return pickle.loads(stream.read(size))


class ChildProcess:
    """Starts `script`; `child(op, **request)` returns its reply."""

    def __init__(self, script, **env):
        self._process = subprocess.Popen(
            [sys.executable, script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **env),
        )
        ready = receive(self._process.stdout)
        if ready != "ready":
            raise RuntimeError(f"{script} failed to start: {ready}")

    def __call__(self, op, **request):
        send(self._process.stdin, {"op": op, **request})
        reply = receive(self._process.stdout)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self):
        self._process.stdin.close()
        self._process.wait(timeout=60)
        self._process.stdout.close()


def serve(ops):
    """The child's loop: answers `{"op": name, ...}` with `ops[name](request)`."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # keep stray prints off the pipe
    send(stdout, "ready")
    while True:
        try:
            request = receive(stdin)
        except EOFError:
            return
        try:
            reply = ops[request.pop("op")](request)
        except Exception as e:  # raised again in the test process
            reply = RuntimeError(f"{type(e).__name__}: {e}")
        send(stdout, reply)
