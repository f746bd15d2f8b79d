"""Corruption: per object type, flip a byte, truncate, delete, and swap in another valid object of the type."""
import json
import os
import shutil

from .common import Stats, base_env, compare_restored, run, tree_digest, write_random

TYPES = ["bundle", "index", "snapshot", "key file", "attestation", "config"]
DAMAGES = ["flip", "truncate", "delete", "swap"]


def objects(repo, folder):
    root = os.path.join(repo, folder)
    found = []
    for dirpath, _, files in os.walk(root):
        found += [os.path.join(dirpath, f) for f in files if len(f) == 64]
    return sorted(found)


class Template:
    """A pristine repository with two snapshots, and a second repository to take valid foreign objects from."""
    def __init__(self, work, rng):
        self.work = os.path.join(work, "template")
        # Pushed at `live`, kept pristine at `repo`, and copied back to `live` for each case: the
        # cache remembers attestations per target location, so verify must see the path pushed to.
        self.live = os.path.join(work, "live", "repo")
        self.repo = os.path.join(self.work, "repo")
        self.src = os.path.join(self.work, "plans")
        os.makedirs(self.work)
        os.makedirs(os.path.dirname(self.live))
        env = base_env(self.work)
        made = run(["init", "--repo", self.live, "--bundle-size-mib", "1"], env)
        assert made.rc == 0, made.err
        for i in range(4):
            write_random(os.path.join(self.src, "first-%d.bin" % i), 700_000, rng)
        self.ids, self.digests = [], []
        for round in range(2):
            pushed = run(["push", "--repo", self.live, self.src, "--json"], env)
            assert pushed.rc == 0, pushed.err
            self.ids.append(pushed.json()["snapshot"])
            self.digests.append({"plans/" + k: v for k, v in tree_digest(self.src).items()})
            for i in range(3):
                write_random(os.path.join(self.src, "second-%d.bin" % i), 700_000, rng)
        shutil.copytree(self.live, self.repo, symlinks=True)
        self.other = os.path.join(self.work, "other")
        run(["init", "--repo", self.other], env)

    def victim(self, kind, repo):
        """The object a case damages, and a different valid object of the same type to swap in."""
        if kind == "config":
            return os.path.join(repo, "config"), os.path.join(self.other, "config")
        if kind == "key file":
            return objects(repo, "keys")[0], objects(self.other, "keys")[0]
        if kind == "snapshot":
            # The newest snapshot; the older one is swapped in under its name.
            return (os.path.join(repo, "snapshots", self.ids[1]), os.path.join(repo, "snapshots", self.ids[0]))
        if kind == "attestation":
            # The chain's head (highest sequence): the hardest record to miss, since no later record names it.
            return tuple(reversed(sorted(objects(repo, "attestations"), key=sequence)[-2:]))
        folder = {"bundle": "bundles", "index": "index"}[kind]
        found = objects(repo, folder)
        return found[0], found[1]


def sequence(path):
    with open(path, "rb") as f:
        return json.loads(f.readline())["sequence"]


def damage(path, other, how):
    if how == "flip":
        with open(path, "r+b") as f:
            size = os.path.getsize(path)
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0x20]))
    elif how == "truncate":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif how == "delete":
        os.unlink(path)
    elif how == "swap":
        shutil.copyfile(other, path)


def affected(verify_output):
    return {line.strip()[len("affects "):] for line in verify_output.splitlines() if line.strip().startswith("affects ")}


def run_case(template, kind, how, work):
    # The case folder's name must not contain the type's name: the check for "named" reads the output.
    case = os.path.join(work, "case-%d-%d" % (TYPES.index(kind), DAMAGES.index(how)))
    repo = template.live
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(template.repo, repo, symlinks=True)
    # verify runs as on the pushing host, with the cache its pushes left (what a weekly cron does):
    # that is what lets it notice a deleted newest attestation or name a deleted key file.
    cache = os.path.join(template.work, "cache")
    if os.path.isdir(cache):
        shutil.copytree(cache, os.path.join(case, "cache"), symlinks=True)
    env = base_env(case)
    victim, other = template.victim(kind, repo)
    name = os.path.basename(victim)
    damage(victim, other, how)

    verify = run(["verify", "--repo", repo, "--read-data", "--no-record"], env)
    text = verify.out + verify.err
    mentions = name[:8] in text if kind != "config" else "config" in text
    affects = affected(text)
    restored = wrong = missing_unexplained = total = 0
    for sid, digest in zip(template.ids, template.digests):
        dest = os.path.join(case, "out-" + sid[:8])
        restore = run(["restore", sid, "--repo", repo, "--to", dest], env)
        missing, bad = compare_restored(digest, dest)
        # A snapshot whose trees are damaged cannot list its files: verify names the snapshot, and
        # its restore must then fail (a restore that exits 0 with files missing is silent loss).
        unreadable = ("DAMAGED snapshot %s" % sid[:16]) in text and restore.rc != 0
        total += len(digest)
        restored += len(digest) - len(missing) - len([p for p in bad if p in digest])
        wrong += len(bad)
        # A file may be left out only when verify named it as affected, or the whole snapshot is unreadable.
        if kind == "bundle" and not unreadable:
            missing_unexplained += len([p for p in missing if "%s:%s" % (sid[:8], p) not in affects])
    Stats.wrong_bytes += wrong
    repair = run(["repair-index", "--repo", repo, "--remove-damaged"], env)
    after = run(["verify", "--repo", repo, "--read-data", "--no-record"], env)

    # What a correct outcome is, per type.
    reasons = []
    if verify.rc == 0 and not (kind == "index" and how == "delete"):
        reasons.append("verify found nothing")
    if verify.rc not in (0, 4, 12):
        reasons.append("verify exit %d" % verify.rc)
    if verify.rc != 0 and not mentions:
        reasons.append("damaged object not named")
    if wrong:
        reasons.append("%d files restored with wrong bytes" % wrong)
    if missing_unexplained:
        reasons.append("%d files not restored that verify did not name" % missing_unexplained)
    if kind in ("bundle", "index", "attestation", "snapshot") and restored == 0:
        reasons.append("nothing restored although most files do not depend on the damage")
    if kind in ("index", "attestation") and restored != total:
        reasons.append("files lost to %s damage (%d of %d restored)" % (kind, restored, total))
    if kind == "index" and after.rc != 0:
        reasons.append("repair-index did not rebuild the index (verify exit %d after)" % after.rc)
    shutil.rmtree(case, ignore_errors=True)
    return {"type": kind, "damage": how, "verify": verify.rc, "named": mentions, "affects": len(affects),
            "restored": "%d/%d" % (restored, total), "wrong": wrong, "repair-index": repair.rc, "after": after.rc,
            "ok": not reasons, "why": "; ".join(reasons), "message": [l for l in text.splitlines() if "DAMAGED" in l or "planvault:" in l][:1]}


def run_corruption(work, rng, log):
    os.makedirs(work, exist_ok=True)
    template = Template(work, rng)
    rows = []
    for kind in TYPES:
        for how in DAMAGES:
            rows.append(run_case(template, kind, how, work))
            log("  %s %s: verify %d, restored %s, wrong %d%s" % (kind, how, rows[-1]["verify"], rows[-1]["restored"], rows[-1]["wrong"],
                                                                 "" if rows[-1]["ok"] else " FAIL: " + rows[-1]["why"]))
    return rows
