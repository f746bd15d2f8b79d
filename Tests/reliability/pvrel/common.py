"""Shared parts of the reliability campaign: running the real CLI, trees, targets."""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

# Exit codes README.md documents; anything else (or a signal we did not send) is a crash.
DOCUMENTED_EXIT_CODES = {0, 1, 3, 4, 5, 6, 10, 11, 12, 64}
PASSPHRASE = "reliability campaign passphrase"


class Stats:
    """Campaign-wide counters the summary is built from."""
    crashes = []          # (command, how) for every undocumented exit or unexpected signal
    wrong_bytes = 0       # restored files whose bytes differ from what was pushed
    unreadable = 0        # repositories left unreadable after a fault
    lost = 0              # snapshots that existed before a fault and are gone after it


class Result:
    def __init__(self, args, rc, out, err, seconds, max_rss_kib, signalled):
        self.args, self.rc, self.out, self.err = args, rc, out, err
        self.seconds, self.max_rss_kib, self.signalled = seconds, max_rss_kib, signalled

    def json(self):
        return json.loads(self.out)

    def text(self):
        return self.out + self.err


# The CLI's own lines on stderr: "planvault: ..." on a terminal, "TIME planvault COMMAND: ..." when
# stderr is a pipe or a log file (dated for cron logs).
PLANVAULT_LINE = re.compile(r"^(?:\S+Z )?planvault(?: [a-z-]+)?: ")


def planvault_lines(err):
    """The lines of `err` written by planvault itself, in order."""
    return [line for line in err.splitlines() if PLANVAULT_LINE.match(line)]


def binary():
    return os.environ["PLANVAULT_BIN"]


def base_env(home, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANVAULT_") and not k.startswith("AWS_")}
    env.update({"HOME": home, "PLANVAULT_PASSPHRASE": PASSPHRASE, "PLANVAULT_CACHE_DIR": os.path.join(home, "cache")})
    env.update(extra or {})
    return env


class Running:
    """A started CLI process whose output goes to files (no pipe can fill and block it)."""
    def __init__(self, args, env, cwd=None):
        self.args = args
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.proc = subprocess.Popen([binary()] + args, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.err)
        self.killed_by_us = False

    def alive(self):
        """True while the process runs; does not reap it, so wait() still gets its rusage."""
        if self.proc.returncode is not None:
            return False
        return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def kill(self, sig=signal.SIGKILL):
        if self.proc.returncode is None:
            try:
                os.kill(self.proc.pid, sig)
                self.killed_by_us = True
            except ProcessLookupError:
                pass

    def wait(self, timeout=600):
        deadline = time.monotonic() + timeout
        rusage = None
        while True:
            pid, status, rusage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.monotonic() > deadline:
                os.kill(self.proc.pid, signal.SIGKILL)
                pid, status, rusage = os.wait4(self.proc.pid, 0)
                Stats.crashes.append((" ".join(self.args[:2]), "hung past %d s" % timeout))
                break
            time.sleep(0.005)  # polling the child's exit, not synchronising on time
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - self.started
        self.out.seek(0)
        self.err.seek(0)
        out = self.out.read().decode("utf-8", "replace")
        err = self.err.read().decode("utf-8", "replace")
        rc = self.proc.returncode
        signalled = rc < 0
        if signalled and not self.killed_by_us:
            Stats.crashes.append((" ".join(self.args[:2]), "signal %d" % -rc))
        elif not signalled and rc not in DOCUMENTED_EXIT_CODES:
            Stats.crashes.append((" ".join(self.args[:2]), "exit %d" % rc))
        elif "Fatal error" in err or "Stack dump" in err:
            Stats.crashes.append((" ".join(self.args[:2]), "fatal error"))
        if os.environ.get("PVREL_TRACE"):
            print("    %.2f s exit %d: %s" % (seconds, rc, " ".join(self.args[:3])), flush=True)
        return Result(self.args, rc, out, err, seconds, rusage.ru_maxrss, signalled)


def run(args, env, cwd=None, timeout=600):
    return Running(args, env, cwd).wait(timeout)


def wait_for(condition, timeout, what):
    """Polls a condition with a deadline (never a fixed sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.002)
    raise RuntimeError("timed out waiting for " + what)


# ---------- trees ----------

def write_random(path, size, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(rng.randbytes(size))


def tree_digest(root):
    """relative path -> sha256 of every regular file, and link targets for symlinks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = "link:" + os.readlink(full)
            else:
                with open(full, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def compare_restored(expected, restored_root):
    """Returns (missing, wrong): files absent from the restore, files present with other bytes."""
    got = tree_digest(restored_root) if os.path.isdir(restored_root) else {}
    missing = sorted(set(expected) - set(got))
    wrong = sorted(p for p in got if p in expected and got[p] != expected[p])
    extra = sorted(set(got) - set(expected))
    return missing, wrong + extra


def dir_size(root, predicate):
    count = size = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            if predicate(name):
                count += 1
                size += os.path.getsize(os.path.join(dirpath, name))
    return count, size


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# ---------- targets ----------

class DirectoryTarget:
    kind = "directory"
    has_server = False

    def __init__(self, work):
        self.work = work
        self.root = os.path.join(work, "repo")
        self.url = self.root
        self.extra_env = {}

    def start(self):
        pass

    def stop(self):
        pass

    def objects_root(self):
        return self.root


class ServerTarget:
    """The real `planvault serve` on loopback with a self-signed certificate."""
    kind = "https server"
    has_server = True

    def __init__(self, work):
        self.work = work
        self.root = os.path.join(work, "server-root")
        os.makedirs(self.root, exist_ok=True)
        tokens = os.path.join(work, "tokens.json")
        env = base_env(work)
        token = run(["serve", "token", "add", "--file", tokens, "--role", "agent", "--repo", "plans", "--label", "campaign"], env)
        if token.rc != 0:
            raise RuntimeError("token add failed: " + token.err)
        self.token = token.out.strip().splitlines()[-1]
        self.tokens = tokens
        self.cert = os.path.join(work, "cert.pem")
        self.key = os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", self.key, "-out", self.cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(self.key, 0o600)
        self.port = free_port()
        self.url = "https://127.0.0.1:%d/plans" % self.port
        self.extra_env = {"PLANVAULT_SERVER_TOKEN": self.token, "PLANVAULT_CACERT": self.cert}
        self.proc = None

    def start(self):
        port_file = os.path.join(self.work, "port-%d" % time.monotonic_ns())
        self.proc = Running(["serve", "--root", self.root, "--tokens", self.tokens, "--tls-cert", self.cert, "--tls-key", self.key,
                             "--listen", "127.0.0.1:%d" % self.port, "--port-file", port_file], base_env(self.work))
        wait_for(lambda: os.path.exists(port_file) and open(port_file).read().endswith("\n"), 60, "the server to listen")

    def kill(self):
        self.proc.kill(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.proc.returncode is None:
            self.proc.kill(signal.SIGTERM)
            self.proc.wait()

    def objects_root(self):
        return os.path.join(self.root, "plans")


class S3Target:
    """`rclone serve s3` on loopback, the S3-compatible test server the XCTests use."""
    kind = "S3 test server"
    has_server = True
    access, secret = "PLANVAULTCAMPAIGN", "campaign/secret+key"

    def __init__(self, work):
        self.work = work
        self.data = os.path.join(work, "s3data")
        os.makedirs(os.path.join(self.data, "plans"), exist_ok=True)
        self.port = free_port()
        self.url = "s3://plans/vault"
        self.extra_env = {"AWS_ACCESS_KEY_ID": self.access, "AWS_SECRET_ACCESS_KEY": self.secret,
                          "PLANVAULT_S3_ENDPOINT": "http://127.0.0.1:%d" % self.port}
        self.proc = None
        self.rclone = shutil.which("rclone") or "/root/.pyenv/shims/rclone"

    def start(self):
        log = open(os.path.join(self.work, "rclone.log"), "ab")
        self.proc = subprocess.Popen([self.rclone, "serve", "s3", "--addr", "127.0.0.1:%d" % self.port,
                                      "--auth-key", "%s,%s" % (self.access, self.secret), self.data],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_for(lambda: can_connect(self.port), 60, "rclone serve s3 to listen")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()

    def objects_root(self):
        return os.path.join(self.data, "plans", "vault")


TARGETS = {"directory": DirectoryTarget, "https": ServerTarget, "s3": S3Target}


def is_temp(name):
    return name.startswith(".tmp-") or ".partial" in name or name.startswith(".upload-")
