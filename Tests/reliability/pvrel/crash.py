"""Crash injection: pushes SIGKILLed at a random moment, and servers killed and restarted mid-push."""
import os
import re
import shutil
import time

from .common import (TARGETS, Running, base_env, compare_restored, dir_size, run, tree_digest, write_random)

OBJECT_NAME = re.compile(r"^[0-9a-f]{64}$")


class Campaign:
    def __init__(self, kind, work, rng, restore_all_every, log):
        self.kind, self.work, self.rng, self.log = kind, work, rng, log
        self.restore_all_every = restore_all_every
        os.makedirs(work, exist_ok=True)
        self.target = TARGETS[kind](work)
        self.src = os.path.join(work, "plans")
        self.expected = {}       # snapshot ID -> {path: sha256} of what was pushed
        self.order = []          # snapshot IDs, oldest first
        self.push_seconds = []
        self.row = {"runs": 0, "kills": 0, "server kills": 0, "unreadable": 0, "lost": 0, "wrong": 0,
                    "next push failed": 0, "temp files": 0, "orphan bytes": 0, "unindexed": 0, "notes": []}

    @property
    def env(self):
        return base_env(self.work, self.target.extra_env)

    def cli(self, *args, timeout=600):
        return run(list(args) + ["--repo", self.target.url], self.env, timeout=timeout)

    def mutate(self):
        names = sorted(os.listdir(self.src))
        for name in self.rng.sample(names, min(3, len(names))):
            write_random(os.path.join(self.src, name), self.rng.randint(300_000, 900_000), self.rng)
        if self.rng.random() < 0.3:
            write_random(os.path.join(self.src, "added-%d.bin" % self.rng.randint(0, 10**9)), self.rng.randint(1000, 400_000), self.rng)
        if self.rng.random() < 0.2 and len(names) > 4:
            os.unlink(os.path.join(self.src, self.rng.choice(names)))

    def snapshot_ids(self):
        listed = self.cli("snapshots", "--json")
        if listed.rc != 0:
            return None, listed
        return [s["id"] for s in listed.json()["snapshots"]], listed

    def record_new_snapshots(self, ids):
        digest = {"plans/" + k: v for k, v in tree_digest(self.src).items()}
        for i in ids:
            if i not in self.expected:
                self.expected[i] = digest
                self.order.append(i)

    def push(self):
        started = time.monotonic()
        result = self.cli("push", self.src, "--json", timeout=300)
        if result.rc == 0:
            self.push_seconds.append(time.monotonic() - started)
        return result

    def setup(self):
        self.target.start()
        for i in range(6):
            write_random(os.path.join(self.src, "plan-%d.bin" % i), 600_000, self.rng)
        init = self.cli("init", "--bundle-size-mib", "1")
        if init.rc != 0:
            raise RuntimeError("init failed at %s: %s" % (self.kind, init.err))
        first = self.push()
        if first.rc != 0:
            raise RuntimeError("first push failed at %s: %s" % (self.kind, first.err))
        ids, _ = self.snapshot_ids()
        self.record_new_snapshots(ids)
        # Calibration: how long a push of one round's changes takes here, now.
        self.mutate()
        started = time.monotonic()
        calibration = self.cli("push", self.src, "--json")
        if calibration.rc != 0:
            raise RuntimeError("calibration push failed at %s: %s" % (self.kind, calibration.err))
        self.round_seconds = [time.monotonic() - started]
        self.record_new_snapshots([calibration.json()["snapshot"]])

    def kill_moment(self):
        # Uniform over a typical push of one round's changes (measured on the pushes that ended before their
        # kill), a little past its end so that some kills land after it.
        typical = sorted(self.round_seconds)[len(self.round_seconds) // 2]
        return self.rng.uniform(0, typical * 1.1)

    def check(self, n, label):
        """After a fault: the repository reads, verifies, keeps every snapshot, restores them, takes the next push."""
        ids, listed = self.snapshot_ids()
        if ids is None:
            self.row["unreadable"] += 1
            self.row["notes"].append("%s: snapshots failed: %s" % (label, listed.err.strip()[:200]))
            return
        lost = [i for i in self.order if i not in ids]
        if lost:
            self.row["lost"] += len(lost)
            self.row["notes"].append("%s: lost %s" % (label, [i[:8] for i in lost]))
        self.record_new_snapshots(ids)
        verify = self.cli("verify", "--no-record")
        if verify.rc != 0:
            self.row["unreadable"] += 1
            self.row["notes"].append("%s: verify exit %d: %s" % (label, verify.rc, (verify.out + verify.err).strip()[-300:]))
        earlier = [i for i in self.order if i in ids]
        if self.restore_all_every > 1 and n % self.restore_all_every != 0:
            earlier = sorted({earlier[0], earlier[-1]}, key=earlier.index)
        self.restore(earlier, label)
        following = self.push()
        if following.rc != 0:
            self.row["next push failed"] += 1
            self.row["notes"].append("%s: next push exit %d: %s" % (label, following.rc, following.err.strip()[-300:]))
        else:
            self.record_new_snapshots([following.json()["snapshot"]])

    def restore(self, ids, label):
        for i in ids:
            dest = os.path.join(self.work, "restore")
            shutil.rmtree(dest, ignore_errors=True)
            restored = self.cli("restore", i, "--to", dest)
            missing, wrong = compare_restored(self.expected[i], dest)
            if restored.rc != 0 or missing or wrong:
                self.row["notes"].append("%s: restore %s exit %d, %d missing, %d wrong: %s" % (label, i[:8], restored.rc, len(missing), len(wrong), restored.err.strip()[:200]))
                if restored.rc != 0 or missing:
                    self.row["unreadable"] += 1
            self.row["wrong"] += len(wrong)
        shutil.rmtree(os.path.join(self.work, "restore"), ignore_errors=True)

    def push_kills(self, count):
        for n in range(count):
            self.mutate()
            push = Running(["push", self.src, "--repo", self.target.url], self.env)
            moment = self.kill_moment()
            # The kill moment is the injected fault; we poll the process so a push that ends sooner is seen.
            while push.alive() and time.monotonic() - push.started < moment:
                time.sleep(0.001)
            push.kill()
            result = push.wait()
            self.row["runs"] += 1
            if result.signalled:
                self.row["kills"] += 1
            else:
                self.round_seconds.append(result.seconds)
            self.check(n, "kill %d (%.3f s)" % (n, moment))

    def server_kills(self, count):
        for n in range(count):
            self.mutate()
            push = Running(["push", self.src, "--repo", self.target.url], self.env)
            moment = self.kill_moment()
            while push.alive() and time.monotonic() - push.started < moment:
                time.sleep(0.001)
            self.target.kill()
            self.target.start()
            result = push.wait(timeout=300)
            self.row["runs"] += 1
            self.row["server kills"] += 1
            if result.rc not in (0, 1):
                self.row["notes"].append("server kill %d: push exit %d: %s" % (n, result.rc, result.err.strip()[-200:]))
            self.check(n, "server kill %d (%.3f s)" % (n, moment))

    def finish(self):
        ids, _ = self.snapshot_ids()
        lost = [i for i in self.order if i not in (ids or [])]
        self.row["lost"] += len(lost)
        self.restore(self.order, "final")
        root = self.target.objects_root()
        count, size = dir_size(root, lambda name: not OBJECT_NAME.match(name) and name != "config")
        self.row["temp files"] = count
        self.row["orphan bytes"] = size
        verify = self.cli("verify", "--read-data", "--json", "--no-record")
        if verify.rc != 0:
            self.row["unreadable"] += 1
            self.row["notes"].append("final verify --read-data exit %d: %s" % (verify.rc, verify.out[-300:] + verify.err[-300:]))
        else:
            report = verify.json()
            self.row["unindexed"] = report.get("unindexedBundles", report.get("unindexed_bundles", 0))
        self.target.stop()


def run_crash(kind, work, rng, kills, server_kills, restore_all_every, log):
    campaign = Campaign(kind, work, rng, restore_all_every, log)
    try:
        campaign.setup()
        campaign.push_kills(kills)
        if campaign.target.has_server:
            campaign.server_kills(server_kills)
        campaign.finish()
    finally:
        campaign.target.stop()
    row = campaign.row
    row["snapshots"] = len(campaign.order)
    return row
