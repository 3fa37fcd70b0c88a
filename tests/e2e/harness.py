"""End-to-end test harness: a real secmsg-relay on 127.0.0.1 and the real
CLIs (secmsg-admin, secmsg-caseworker, secmsg-citizen) as processes.

Paths of the binaries come from the environment (set by tests/e2e/meson.build):
SECMSG_RELAY, SECMSG_ADMIN, SECMSG_CASEWORKER, SECMSG_CITIZEN.
Python standard library only.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

RELAY = os.environ.get("SECMSG_RELAY", "secmsg-relay")
ADMIN = os.environ.get("SECMSG_ADMIN", "secmsg-admin")
CASEWORKER = os.environ.get("SECMSG_CASEWORKER", "secmsg-caseworker")
CITIZEN = os.environ.get("SECMSG_CITIZEN", "secmsg-citizen")

# Argon2id cost for test stores: the defaults (64 MiB, 3 passes) are for
# phones; tests unlock hundreds of times.
FAST_KDF = ["--kdf-ops", "1", "--kdf-mem-kib", "8192"]
PIN = "4711"


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Relay:
    """A secmsg-relay process with its own database in a temp dir."""

    def __init__(self, workdir, extra=()):
        self.dir = os.path.join(workdir, "relay")
        os.makedirs(self.dir, exist_ok=True)
        self.db = os.path.join(self.dir, "relay.db")
        self.extra = list(extra)
        self.proc = None
        self.url = None
        self.port = 0

    def start(self):
        args = [RELAY, "serve", "--listen", "127.0.0.1", "--port", str(self.port),
                "--db", self.db, "--insecure-loopback"] + self.extra
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        prefix = "listening on 127.0.0.1:"
        if not line.startswith(prefix):
            self.proc.kill()
            raise Failure("relay did not start: %r" % line)
        self.port = int(line[len(prefix):].strip())
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.stderr.close()
            self.proc = None

    def admin_token(self, role, user):
        out = subprocess.run([RELAY, "admin", "token", "--role", role, "--user", user,
                              "--db", self.db], capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, "admin token failed: %s" % out.stderr)
        return out.stdout.strip()


class Cli:
    """One device: a CLI binary with its own --dir."""

    def __init__(self, binary, home, pin=PIN):
        self.binary = binary
        self.home = home
        self.pin = pin

    def run(self, *args, pin=None, json_out=True, check_rc=0, timeout=120, stdin=None):
        env = dict(os.environ)
        env["SECMSG_PIN"] = self.pin if pin is None else pin
        cmd = [self.binary, "--dir", self.home] + (["--json"] if json_out else []) + list(args)
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                             input=stdin)
        if check_rc is not None and out.returncode != check_rc:
            raise Failure("%s exited %d (wanted %d)\nstdout: %s\nstderr: %s" % (
                " ".join(cmd[2:]), out.returncode, check_rc, out.stdout, out.stderr))
        return out

    def popen(self, *args):
        env = dict(os.environ)
        env["SECMSG_PIN"] = self.pin
        cmd = [self.binary, "--dir", self.home, "--json"] + list(args)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                stdin=subprocess.DEVNULL)

    def json(self, *args, **kw):
        out = self.run(*args, **kw)
        lines = [l for l in out.stdout.splitlines() if l.strip()]
        return [json.loads(l) for l in lines]


class World:
    """A relay, a municipality root key, one caseworker and helpers to add citizens."""

    def __init__(self, keep=False):
        self.tmp = tempfile.mkdtemp(prefix="secmsg-e2e-")
        self.keep = keep
        self.relay = Relay(self.tmp).start()
        self.root_key = os.path.join(self.tmp, "root.key")
        out = subprocess.run([ADMIN, "root-init", "--out", self.root_key],
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, "root-init failed: %s" % out.stderr)
        self.root_fp = out.stdout.strip()

    def caseworker(self, user="cw-anna", name="caseworker"):
        cw = Cli(CASEWORKER, os.path.join(self.tmp, name))
        info = cw.json("init", *FAST_KDF)[-1]
        token = self.relay.admin_token("caseworker", user)
        out = subprocess.run([ADMIN, "certify", "--root-key", self.root_key,
                              "--identity", info["identity"], "--user", user,
                              "--role", "caseworker"],
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, "certify failed: %s" % out.stderr)
        cw.json("enroll", "--relay", self.relay.url, "--token", token,
                "--certificate", out.stdout.strip())
        cw.user = user
        return cw

    def citizen(self, cw, user, name=None):
        inv = cw.json("invite", "--user", user, "--no-qr")[-1]["invite"]
        ci = Cli(CITIZEN, os.path.join(self.tmp, name or user))
        ci.json("init", *FAST_KDF)
        ci.json("redeem", inv)
        ci.user = user
        return ci

    def close(self):
        self.relay.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def conversation(cli, peer):
    """The conversation with peer as a list of (outgoing, text) from `show --json`."""
    rows = cli.json("show", peer)
    return [r for r in rows if "text" in r]


def main(tests):
    """Runs test functions in order; exit status 0 only if all pass."""
    failed = 0
    for t in tests:
        try:
            t()
            print("PASS %s" % t.__name__, flush=True)
        except Exception as e:  # report every failure, then fail the run
            failed += 1
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    sys.exit(1 if failed else 0)
