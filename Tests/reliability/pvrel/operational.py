"""Operational faults: full filesystems, changing and unreadable sources, racing pushes, wrong passphrase, stale lock."""
import fcntl
import glob
import os
import shutil
import signal
import subprocess
import threading
import time

from .common import (PASSPHRASE, Running, Stats, base_env, compare_restored, planvault_lines, run, tree_digest, wait_for,
                     write_random)


class Fixture:
    """A directory repository with one snapshot of a small plan folder, for one scenario."""
    def __init__(self, work, rng, name):
        self.work = os.path.join(work, name)
        os.makedirs(self.work)
        self.rng = rng
        self.repo = os.path.join(self.work, "repo")
        self.src = os.path.join(self.work, "plans")
        for i in range(4):
            write_random(os.path.join(self.src, "plan-%d.bin" % i), 200_000, rng)
        self.env = base_env(self.work)
        assert run(["init", "--repo", self.repo, "--bundle-size-mib", "1"], self.env).rc == 0
        first = run(["push", "--repo", self.repo, self.src, "--json"], self.env)
        assert first.rc == 0, first.err
        self.first_id = first.json()["snapshot"]
        self.first_digest = {"plans/" + k: v for k, v in tree_digest(self.src).items()}

    def cli(self, *args, env=None):
        return run(list(args) + ["--repo", self.repo], env or self.env)

    def consistent(self):
        """verify --read-data passes and the first snapshot still restores byte-identically."""
        verify = self.cli("verify", "--read-data", "--no-record")
        dest = os.path.join(self.work, "check-%d" % time.monotonic_ns())
        restored = self.cli("restore", self.first_id, "--to", dest)
        missing, wrong = compare_restored(self.first_digest, dest)
        Stats.wrong_bytes += len(wrong)
        shutil.rmtree(dest, ignore_errors=True)
        ok = verify.rc == 0 and restored.rc == 0 and not missing and not wrong
        if restored.rc != 0 or missing:
            Stats.unreadable += 1
        damage = "; ".join(l for l in verify.out.splitlines() if l.startswith("DAMAGED"))[:200]
        return ok, "verify %d%s, restore %d, %d missing, %d wrong" % (verify.rc, " (" + damage + ")" if damage else "", restored.rc, len(missing), len(wrong))


class Tmpfs:
    def __init__(self, path, size):
        self.path = path
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path], check=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", "-l", self.path], check=False)


def first_line(result):
    """The message a person reads: the last error line, or the summary line of a success."""
    lines = planvault_lines(result.err)
    if lines:
        return lines[-1][:160]
    summary = [l.strip() for l in result.out.splitlines() if l.strip().startswith(("snapshot ", "restored "))]
    return (summary[-1] if summary else "(no message)")[:160]


def full_target(work, rng):
    base = os.path.join(work, "full-target")
    os.makedirs(base)
    with Tmpfs(os.path.join(base, "mnt"), "12m"):
        # The repository lives on the small filesystem; its first snapshot fits, the second does not.
        f = Fixture.__new__(Fixture)
        f.work, f.rng = base, rng
        f.repo = os.path.join(base, "mnt", "repo")
        f.src = os.path.join(base, "plans")
        for i in range(4):
            write_random(os.path.join(f.src, "plan-%d.bin" % i), 200_000, rng)
        f.env = base_env(base)
        assert run(["init", "--repo", f.repo, "--bundle-size-mib", "1"], f.env).rc == 0
        first = run(["push", "--repo", f.repo, f.src, "--json"], f.env)
        f.first_id = first.json()["snapshot"]
        f.first_digest = {"plans/" + k: v for k, v in tree_digest(f.src).items()}
        for i in range(6):
            write_random(os.path.join(f.src, "big-%d.bin" % i), 3_000_000, rng)
        push = f.cli("push", f.src)
        ok, detail = f.consistent()
        for i in range(6):
            os.unlink(os.path.join(f.src, "big-%d.bin" % i))
        again = f.cli("push", f.src)
        return row("full target filesystem during push", push, ok and again.rc == 0,
                   detail + ", push after freeing space %d" % again.rc, expect={6})


def full_destination(work, rng):
    f = Fixture(work, rng, "full-destination")
    for i in range(5):
        write_random(os.path.join(f.src, "big-%d.bin" % i), 3_000_000, rng)
    pushed = f.cli("push", f.src, "--json")
    big_id = pushed.json()["snapshot"]
    expected = {"plans/" + k: v for k, v in tree_digest(f.src).items()}
    with Tmpfs(os.path.join(f.work, "dest"), "8m") as mnt:
        restore = f.cli("restore", big_id, "--to", os.path.join(mnt.path, "out"))
        # Whatever was written must be right: a file is either whole and correct, or absent.
        got = tree_digest(os.path.join(mnt.path, "out")) if os.path.isdir(os.path.join(mnt.path, "out")) else {}
        wrong = [p for p in got if expected.get(p) != got[p]]
        Stats.wrong_bytes += len(wrong)
        ok, detail = f.consistent()
    return row("full destination during restore", restore, ok and not wrong,
               detail + ", %d restored files, %d wrong or partial" % (len(got), len(wrong)), expect={6})


def changing_source(work, rng):
    f = Fixture(work, rng, "changing-source")
    target = os.path.join(f.src, "being-edited.bin")
    write_random(target, 4_000_000, rng)
    stop = threading.Event()
    rewrites = [0]

    def editor():
        data = rng.randbytes(4_000_000)
        while not stop.is_set():
            with open(target, "r+b") as fh:
                fh.seek(rewrites[0] % 3_000_000)
                fh.write(data[:65536])
            rewrites[0] += 1

    thread = threading.Thread(target=editor)
    thread.start()
    wait_for(lambda: rewrites[0] > 0, 10, "the editor to start")
    push = f.cli("push", f.src)
    stop.set()
    thread.join()
    ok, detail = f.consistent()
    named = "being-edited.bin" in push.err
    return row("source changing while read (%d edits)" % rewrites[0], push, ok and (push.rc == 0 or named), detail, expect={0, 3})


def unreadable_source(work, rng):
    f = Fixture(work, rng, "unreadable-source")
    os.mkfifo(os.path.join(f.src, "pipe"))
    # Root reads every mode; a file is made unreadable for a non-root run instead.
    push = f.cli("push", f.src)
    ok, detail = f.consistent()
    return row("unreadable source (a FIFO)", push, ok and "pipe" in push.err, detail, expect={3})


def lock_path(env):
    found = glob.glob(os.path.join(env["PLANVAULT_CACHE_DIR"], "*", "push.lock"))
    return found[0] if found else None


def lock_held(env):
    path = lock_path(env)
    if not path:
        return False
    with open(path, "rb") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True


def race_one_host(work, rng):
    f = Fixture(work, rng, "race-one-host")
    for i in range(8):
        write_random(os.path.join(f.src, "big-%d.bin" % i), 4_000_000, rng)
    first = Running(["push", "--repo", f.repo, f.src], f.env)
    wait_for(lambda: lock_held(f.env) or not first.alive(), 60, "the first push to take the lock")
    # Stopped while it holds the lock, the first push stands for a slow one: the race is certain, not timed.
    first.kill(signal.SIGSTOP)
    first.killed_by_us = False
    second = f.cli("push", f.src)
    first.kill(signal.SIGCONT)
    first.killed_by_us = False
    done = first.wait()
    ok, detail = f.consistent()
    return row("two pushes racing from one host", second, ok and done.rc == 0,
               detail + ", first push %d" % done.rc, expect={11})


def race_two_hosts(work, rng):
    f = Fixture(work, rng, "race-two-hosts")
    other = os.path.join(f.work, "plans-b")
    for i in range(4):
        write_random(os.path.join(f.src, "a-%d.bin" % i), 2_000_000, rng)
        write_random(os.path.join(other, "b-%d.bin" % i), 2_000_000, rng)
    env_b = base_env(os.path.join(f.work, "host-b"))
    a = Running(["push", "--repo", f.repo, "--host", "host-a", f.src, "--json"], f.env)
    b = Running(["push", "--repo", f.repo, "--host", "host-b", other, "--json"], env_b)
    ra, rb = a.wait(), b.wait()
    ok, detail = f.consistent()
    restored_ok = True
    for result, src, name in ((ra, f.src, "plans"), (rb, other, "plans-b")):
        if result.rc != 0:
            restored_ok = False
            continue
        sid = result.json()["snapshot"]
        dest = os.path.join(f.work, "out-" + name)
        r = f.cli("restore", sid, "--to", dest)
        missing, wrong = compare_restored({name + "/" + k: v for k, v in tree_digest(src).items()}, dest)
        Stats.wrong_bytes += len(wrong)
        restored_ok = restored_ok and r.rc == 0 and not missing and not wrong
    combined = ra if ra.rc != 0 else rb
    return row("two pushes racing from two hosts", combined, ok and restored_ok,
               detail + ", pushes %d and %d, both restore: %s" % (ra.rc, rb.rc, restored_ok), expect={0})


def wrong_passphrase(work, rng):
    f = Fixture(work, rng, "wrong-passphrase")
    env = dict(f.env, PLANVAULT_PASSPHRASE="not " + PASSPHRASE)
    push = f.cli("push", f.src, env=env)
    ok, detail = f.consistent()
    return row("wrong passphrase", push, ok, detail, expect={12})


def stale_lock(work, rng):
    f = Fixture(work, rng, "stale-lock")
    for i in range(6):
        write_random(os.path.join(f.src, "big-%d.bin" % i), 3_000_000, rng)
    killed = Running(["push", "--repo", f.repo, f.src], f.env)
    wait_for(lambda: lock_held(f.env) or not killed.alive(), 60, "the push to take the lock")
    killed.kill()
    killed.wait()
    left = lock_path(f.env)
    push = f.cli("push", f.src)
    ok, detail = f.consistent()
    return row("stale lock (holder SIGKILLed, lock file left)", push, ok and left is not None and os.path.exists(left),
               detail, expect={0})


def row(name, result, consistent, detail, expect=None):
    return {"scenario": name, "exit": result.rc, "expect": expect, "message": first_line(result),
            "consistent": consistent, "detail": detail}


SCENARIOS = [full_target, full_destination, changing_source, unreadable_source, race_one_host, race_two_hosts,
             wrong_passphrase, stale_lock]


def run_operational(work, rng, log):
    rows = []
    for scenario in SCENARIOS:
        try:
            rows.append(scenario(work, rng))
        except Exception as error:  # a scenario that cannot run is a failed row, not a silent skip
            rows.append({"scenario": scenario.__name__, "exit": None, "expect": None, "message": "scenario error: %s" % error,
                         "consistent": False, "detail": ""})
        log("  " + rows[-1]["scenario"] + ": exit %s" % rows[-1]["exit"])
    # Exit codes are distinct per kind of fault: a fault with no expected code must not share 1 with another.
    return rows
