"""The CLIs' command line, output and file checks, without a relay:
--help everywhere, usage errors and their exit status, JSON errors,
refusal of loose or foreign files before the PIN is asked for, the PIN
sources, and a local store (init, device-id, wrong PIN, pin change).

Usage: test_cli_usage.py SECMSG-CASEWORKER SECMSG-CITIZEN
Python standard library only. Every process runs in a new session, so it
has no controlling terminal: a missing PIN is an error, never a prompt.
"""
import json
import os
import pty
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import termios
import time
import unittest

CASEWORKER = None
CITIZEN = None
FAST_KDF = ["--kdf-ops", "1", "--kdf-mem-kib", "8192"]
PIN = "4711"

COMMANDS = {
    "caseworker": ["init", "enroll", "invite", "contacts", "send", "sync", "inbox", "show",
                   "watch", "safety-number", "verify", "device-id", "pin"],
    "citizen": ["init", "redeem", "send", "sync", "inbox", "show", "watch", "contacts",
                "safety-number", "verify", "access", "device-id", "pin"],
}
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS"]


def run(binary, *args, env=None, pin=None, stdin=None, pass_fds=(), timeout=60):
    e = dict(os.environ)
    e.pop("SECMSG_PIN", None)
    e.pop("SECMSG_NEW_PIN", None)
    e.pop("SECMSG_HOME", None)
    if pin is not None:
        e["SECMSG_PIN"] = pin
    if env:
        e.update(env)
    return subprocess.run([binary] + list(args), capture_output=True, env=e,
                          input=stdin if stdin is not None else b"", pass_fds=pass_fds,
                          timeout=timeout, start_new_session=True)


def read(path):
    with open(path, "rb") as fh:
        return fh.read()


def json_lines(out):
    """Every stdout line must be exactly one JSON object."""
    objs = []
    for line in out.stdout.decode("utf-8").splitlines():
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        objs.append(obj)
    return objs


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="secmsg-cli-")
        os.chmod(self.tmp, 0o700)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assertExit(self, out, code):
        self.assertEqual(out.returncode, code, "exit %d, wanted %d\nstdout: %r\nstderr: %r" % (
            out.returncode, code, out.stdout, out.stderr))

    def fake_store(self, name="dev"):
        """A directory that passes the CLI's own checks: store files and a secret."""
        d = os.path.join(self.tmp, name)
        os.mkdir(d, 0o700)
        for f in ("store.db", "store.db.keys"):
            with open(os.path.join(d, f), "wb") as fh:
                fh.write(b"x")
            os.chmod(os.path.join(d, f), 0o600)
        p = os.path.join(d, "device.secret")
        with open(p, "wb") as fh:
            fh.write(os.urandom(32))
        os.chmod(p, 0o600)
        return d


class TestHelp(Base):
    def test_program_help(self):
        for binary in (CASEWORKER, CITIZEN):
            for flag in ("--help", "-h"):
                out = run(binary, flag)
                self.assertExit(out, 0)
                text = out.stdout.decode()
                for s in SECTIONS + ["COMMANDS", "ENVIRONMENT", "FILES"]:
                    self.assertIn("\n" + s + "\n", "\n" + text, s)
            out = run(binary, "help")
            self.assertExit(out, 0)

    def test_every_command_has_help(self):
        for name, binary in (("caseworker", CASEWORKER), ("citizen", CITIZEN)):
            listing = run(binary, "--help").stdout.decode()
            for cmd in COMMANDS[name]:
                self.assertIn("    " + cmd + " ", listing)
                for args in ([cmd, "--help"], ["help", cmd]):
                    out = run(binary, *args)
                    self.assertExit(out, 0)
                    text = out.stdout.decode()
                    for s in SECTIONS:
                        self.assertIn(s + "\n", text, "%s %s: no %s" % (name, cmd, s))
                    self.assertIn(cmd, text.split("\n")[1])

    def test_program_only_commands(self):
        self.assertExit(run(CITIZEN, "invite", "--help"), 2)
        self.assertExit(run(CITIZEN, "enroll", "--help"), 2)
        self.assertExit(run(CASEWORKER, "redeem", "--help"), 2)
        self.assertExit(run(CASEWORKER, "access", "--help"), 2)

    def test_version(self):
        for binary in (CASEWORKER, CITIZEN):
            out = run(binary, "--version")
            self.assertExit(out, 0)
            self.assertRegex(out.stdout.decode(), r"^secmsg-\w+ \S+ \(libsecmsg \S+\)\n$")


class TestUsage(Base):
    def test_usage_errors_exit_2(self):
        d = os.path.join(self.tmp, "none")
        cases = [
            [],
            ["frobnicate"],
            ["--bogus", "contacts"],
            ["--pin-fd"],
            ["--pin-fd", "x", "contacts"],
            ["--pin-fd", "-1", "contacts"],
            ["--dir"],
            ["--dir", d, "contacts", "--bogus"],
            ["--dir", d, "contacts", "extra"],
            ["--dir", d, "init", "--kdf-ops", "1"],
            ["--dir", d, "init", "--kdf-ops", "0", "--kdf-mem-kib", "8192"],
            ["--dir", d, "init", "--kdf-ops", "1x", "--kdf-mem-kib", "8192"],
            ["--dir", d, "send", "bob"],
            ["--dir", d, "send"],
            ["--dir", d, "send", "bob", ""],
            ["--dir", d, "show"],
            ["--dir", d, "show", "--last", "0", "bob"],
            ["--dir", d, "safety-number"],
            ["--dir", d, "verify"],
            ["--dir", d, "sync", "--wait", "301"],
            ["--dir", d, "sync", "--wait"],
            ["--dir", d, "watch", "--count", "-1"],
            ["--dir", d, "pin"],
            ["--dir", d, "pin", "policy"],
            ["--dir", d, "pin", "policy", "--max-failures", "101"],
            ["--dir", d, "pin", "change", "--wipe"],
            ["--dir", d, "enroll", "--relay", "http://x"],
            ["--dir", d, "enroll", "--relay", "ftp://x", "--token", "t", "--certificate", "c"],
            ["--dir", d, "invite", "--ttl", "0"],
            ["--dir", d, "invite", "--user", "x" * 65],
        ]
        for args in cases:
            out = run(CASEWORKER, *args)
            self.assertExit(out, 2)
            self.assertTrue(out.stderr.startswith(b"secmsg-caseworker: "), out.stderr)
        for args in (["--dir", d, "redeem"], ["--dir", d, "redeem", "a", "b"],
                     ["--dir", d, "send", "--to"], ["--dir", d, "access", "a", "b"]):
            self.assertExit(run(CITIZEN, *args), 2)
        self.assertFalse(os.path.exists(d), "a usage error created the directory")

    def test_json_errors(self):
        # A name with quotes, a backslash and control characters: the error
        # object must still be valid JSON, one per line.
        out = run(CASEWORKER, "--json", "bad\"\\\x01\x1b[2J\u00e6")
        self.assertExit(out, 2)
        objs = json_lines(out)
        self.assertEqual(len(objs), 1)
        self.assertEqual(objs[0]["code"], 2)
        self.assertIn("bad\"\\\x01\x1b[2J\u00e6", objs[0]["error"])
        self.assertIn(b"unknown command", out.stderr)

    def test_json_invalid_utf8_is_replaced(self):
        out = subprocess.run([CASEWORKER, "--json", b"x\xff\xfey"], capture_output=True,
                             start_new_session=True)
        self.assertExit(out, 2)
        self.assertIn("x\ufffd\ufffdy", json_lines(out)[0]["error"])

    def test_text_limits(self):
        d = os.path.join(self.tmp, "none")
        big = b"a" * 65537
        out = run(CASEWORKER, "--dir", d, "send", "bob", "-", stdin=big)
        self.assertExit(out, 2)
        self.assertIn(b"longer than 65536", out.stderr)
        self.assertExit(run(CASEWORKER, "--dir", d, "send", "bob", "-", stdin=b"\n"), 2)
        out = subprocess.run([CASEWORKER, "--dir", d, "send", "bob", b"\xc3("],
                             capture_output=True, start_new_session=True)
        self.assertExit(out, 2)
        self.assertIn(b"UTF-8", out.stderr)
        self.assertExit(run(CASEWORKER, "--dir", d, "send", "bob", "x" * 65537), 2)

    def test_file_arguments(self):
        d = os.path.join(self.tmp, "none")
        out = run(CITIZEN, "--dir", d, "redeem", "@" + os.path.join(self.tmp, "missing"))
        self.assertExit(out, 2)
        empty = os.path.join(self.tmp, "empty")
        open(empty, "w").close()
        self.assertExit(run(CITIZEN, "--dir", d, "redeem", "@" + empty), 2)
        big = os.path.join(self.tmp, "big")
        with open(big, "w") as fh:
            fh.write("x" * 5000)
        self.assertExit(run(CITIZEN, "--dir", d, "redeem", "@" + big), 2)
        two = os.path.join(self.tmp, "two")
        with open(two, "w") as fh:
            fh.write("secmsg-invite:AAAA\nsecond line\n")
        out = run(CITIZEN, "--dir", d, "redeem", "@" + two)
        self.assertExit(out, 2)
        self.assertIn(b"more than one line", out.stderr)


class TestFiles(Base):
    def test_no_store(self):
        d = os.path.join(self.tmp, "none")
        for binary in (CASEWORKER, CITIZEN):
            for cmd in (["contacts"], ["device-id"], ["inbox"], ["sync"], ["show", "x"]):
                out = run(binary, "--dir", d, "--json", *cmd, pin=PIN)
                self.assertExit(out, 7)
                self.assertEqual(json_lines(out), [{"error": "no store in %s; run init first" % d,
                                                    "code": 7}])
        # An empty directory: still no store.
        os.mkdir(d, 0o700)
        out = run(CASEWORKER, "--dir", d, "contacts", pin=PIN)
        self.assertExit(out, 7)
        self.assertIn(b"run init first", out.stderr)

    def test_default_dir(self):
        home = os.path.join(self.tmp, "home")
        os.mkdir(home, 0o700)
        out = run(CITIZEN, "contacts", env={"HOME": home}, pin=PIN)
        self.assertExit(out, 7)
        self.assertIn(os.path.join(home, ".secmsg-citizen").encode(), out.stderr)
        out = run(CITIZEN, "contacts", env={"HOME": home, "SECMSG_HOME": self.tmp + "/x"},
                  pin=PIN)
        self.assertIn((self.tmp + "/x").encode(), out.stderr)

    def test_loose_device_secret_refused(self):
        d = self.fake_store()
        p = os.path.join(d, "device.secret")
        for mode in (0o644, 0o640, 0o604, 0o660):
            os.chmod(p, mode)
            out = run(CASEWORKER, "--dir", d, "--json", "contacts", pin=PIN)
            self.assertExit(out, 5)
            msg = "%s is readable by others (mode %04o); fix with chmod 600 %s" % (p, mode, p)
            self.assertIn(msg.encode(), out.stderr)
            self.assertEqual(json_lines(out)[0]["error"], msg)

    def test_loose_dir_and_store_refused(self):
        d = self.fake_store()
        os.chmod(d, 0o755)
        out = run(CITIZEN, "--dir", d, "contacts", pin=PIN)
        self.assertExit(out, 5)
        self.assertIn(b"fix with chmod 700", out.stderr)
        os.chmod(d, 0o700)
        for name in ("store.db", "store.db.keys"):
            p = os.path.join(d, name)
            os.chmod(p, 0o644)
            out = run(CITIZEN, "--dir", d, "contacts", pin=PIN)
            self.assertExit(out, 5)
            self.assertIn(("%s is readable by others (mode 0644)" % p).encode(), out.stderr)
            os.chmod(p, 0o600)

    def test_symlinked_secret_refused(self):
        d = self.fake_store()
        p = os.path.join(d, "device.secret")
        os.rename(p, os.path.join(self.tmp, "elsewhere"))
        os.symlink(os.path.join(self.tmp, "elsewhere"), p)
        out = run(CASEWORKER, "--dir", d, "contacts", pin=PIN)
        self.assertExit(out, 5)
        self.assertIn(b"symbolic link", out.stderr)

    def test_missing_or_damaged_secret(self):
        d = self.fake_store()
        p = os.path.join(d, "device.secret")
        with open(p, "wb") as fh:
            fh.write(b"short")
        out = run(CASEWORKER, "--dir", d, "contacts", pin=PIN)
        self.assertExit(out, 5)
        self.assertIn(b"damaged", out.stderr)
        os.unlink(p)
        out = run(CASEWORKER, "--dir", d, "contacts", pin=PIN)
        self.assertExit(out, 7)
        self.assertIn(b"device.secret is missing", out.stderr)

    def test_no_pin_without_terminal(self):
        d = self.fake_store()
        out = run(CASEWORKER, "--dir", d, "--json", "contacts")
        self.assertExit(out, 2)
        self.assertEqual(json_lines(out)[0]["error"], "no PIN: use --pin-fd or SECMSG_PIN")
        # --pin-fd on a closed descriptor, and on an empty one.
        self.assertExit(run(CASEWORKER, "--dir", d, "--pin-fd", "9", "contacts"), 2)
        r, w = os.pipe()
        os.close(w)
        try:
            out = run(CASEWORKER, "--dir", d, "--pin-fd", str(r), "contacts", pass_fds=(r,))
        finally:
            os.close(r)
        self.assertExit(out, 2)
        self.assertIn(b"no PIN on file descriptor", out.stderr)
        out = run(CASEWORKER, "--dir", d, "contacts", pin="1" * 65)
        self.assertExit(out, 2)

    def test_init_without_pin_leaves_nothing(self):
        d = os.path.join(self.tmp, "dev")
        out = run(CITIZEN, "--dir", d, "init", *FAST_KDF)
        self.assertExit(out, 2)
        self.assertEqual(sorted(os.listdir(d)), [])
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        out = run(CITIZEN, "--dir", d, "init", *FAST_KDF, pin="123")
        self.assertExit(out, 2)
        self.assertIn(b"4 to 64", out.stderr)
        self.assertEqual(sorted(os.listdir(d)), [])

    def test_init_refuses_existing_store(self):
        d = self.fake_store()
        before = {f: read(os.path.join(d, f)) for f in os.listdir(d)}
        out = run(CASEWORKER, "--dir", d, "init", *FAST_KDF, pin=PIN)
        self.assertExit(out, 1)
        self.assertIn(b"already exists", out.stderr)
        after = {f: read(os.path.join(d, f)) for f in os.listdir(d)}
        self.assertEqual(before, after)


class TestStore(Base):
    """A real store (no relay): init, unlock, PIN sources and limits."""

    def init(self, binary=None, name="dev"):
        d = os.path.join(self.tmp, name)
        out = run(binary or CASEWORKER, "--dir", d, "--json", "init", *FAST_KDF, pin=PIN)
        self.assertExit(out, 0)
        objs = json_lines(out)
        self.assertEqual(len(objs), 1)
        return d, objs[0]

    def test_init_files_and_identity(self):
        d, info = self.init()
        self.assertRegex(info["device_id"], r"^[0-9a-f]{64}$")
        self.assertRegex(info["identity"], r"^[0-9a-f]{272}$")
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        secret = os.path.join(d, "device.secret")
        self.assertEqual(stat.S_IMODE(os.stat(secret).st_mode), 0o600)
        self.assertEqual(os.path.getsize(secret), 32)
        for name in os.listdir(d):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, name)).st_mode) & 0o077, 0,
                             name)
        out = run(CASEWORKER, "--dir", d, "--json", "device-id", pin=PIN)
        self.assertExit(out, 0)
        me = json_lines(out)[0]
        self.assertEqual(me["device_id"], info["device_id"])
        self.assertEqual(me["identity"], info["identity"])
        self.assertEqual(me["role"], "none")
        self.assertEqual(me["user_id"], "")
        out = run(CASEWORKER, "--dir", d, "device-id", pin=PIN)
        self.assertEqual(out.stdout.decode().split("\n")[0], info["device_id"])
        # Human init output is labelled.
        out = run(CITIZEN, "--dir", os.path.join(self.tmp, "c"), "init", *FAST_KDF, pin=PIN)
        self.assertExit(out, 0)
        lines = out.stdout.decode().splitlines()
        self.assertRegex(lines[0], r"^device id: [0-9a-f]{64}$")
        self.assertRegex(lines[1], r"^identity:  [0-9a-f]{272}$")

    def test_empty_store_commands(self):
        d, _ = self.init(CITIZEN)
        out = run(CITIZEN, "--dir", d, "--json", "contacts", pin=PIN)
        self.assertExit(out, 0)
        self.assertEqual(json_lines(out), [])
        out = run(CITIZEN, "--dir", d, "--json", "inbox", pin=PIN)
        self.assertExit(out, 0)
        self.assertEqual(json_lines(out), [])
        for cmd in (["send", "hello"], ["show"], ["safety-number"], ["access"]):
            out = run(CITIZEN, "--dir", d, "--json", *cmd, pin=PIN)
            self.assertExit(out, 7)
            self.assertIn("redeem an invite first", json_lines(out)[0]["error"])
        out = run(CASEWORKER, "--dir", d, "show", "nobody", pin=PIN)
        self.assertExit(out, 7)
        self.assertIn(b"'nobody' is not a contact", out.stderr)

    def test_wrong_pin_counts_down(self):
        d, _ = self.init()
        lefts = []
        for _ in range(3):
            out = run(CASEWORKER, "--dir", d, "--json", "contacts", pin="0000")
            self.assertExit(out, 3)
            err = json_lines(out)[0]
            self.assertEqual(err["code"], 3)
            lefts.append(err["attempts_left"])
            self.assertIn(b"attempt", out.stderr)
        self.assertEqual(lefts, sorted(lefts, reverse=True))
        self.assertGreater(lefts[0], lefts[-1])
        self.assertExit(run(CASEWORKER, "--dir", d, "contacts", pin=PIN), 0)

    def test_pin_fd_and_change(self):
        d, _ = self.init()
        r, w = os.pipe()
        os.write(w, (PIN + "\n").encode())
        os.close(w)
        try:
            out = run(CASEWORKER, "--dir", d, "--pin-fd", str(r), "contacts", pass_fds=(r,))
        finally:
            os.close(r)
        self.assertExit(out, 0)
        # pin change: the current PIN, then the new one, from one descriptor.
        r, w = os.pipe()
        os.write(w, (PIN + "\n" + "246810\n").encode())
        os.close(w)
        try:
            out = run(CASEWORKER, "--dir", d, "--pin-fd", str(r), "pin", "change",
                      pass_fds=(r,))
        finally:
            os.close(r)
        self.assertExit(out, 0)
        self.assertExit(run(CASEWORKER, "--dir", d, "contacts", pin=PIN), 3)
        self.assertExit(run(CASEWORKER, "--dir", d, "contacts", pin="246810"), 0)
        out = run(CASEWORKER, "--dir", d, "pin", "change", pin="246810",
                  env={"SECMSG_NEW_PIN": "12"})
        self.assertExit(out, 2)
        out = run(CASEWORKER, "--dir", d, "--json", "pin", "change", pin="246810",
                  env={"SECMSG_NEW_PIN": PIN})
        self.assertExit(out, 0)
        self.assertEqual(json_lines(out), [{"pin_changed": True}])
        self.assertExit(run(CASEWORKER, "--dir", d, "contacts", pin=PIN), 0)

    def test_pin_policy_locks(self):
        d, _ = self.init()
        out = run(CASEWORKER, "--dir", d, "--json", "pin", "policy", "--max-failures", "2",
                  pin=PIN)
        self.assertExit(out, 0)
        self.assertEqual(json_lines(out), [{"max_failures": 2, "wipe": False}])
        self.assertExit(run(CASEWORKER, "--dir", d, "contacts", pin="0000"), 3)
        self.assertExit(run(CASEWORKER, "--dir", d, "contacts", pin="0000"), 3)
        out = run(CASEWORKER, "--dir", d, "contacts", pin=PIN)
        self.assertExit(out, 3)
        self.assertIn(b"lock", out.stderr.lower())

    def test_loose_secret_after_init(self):
        d, _ = self.init()
        p = os.path.join(d, "device.secret")
        os.chmod(p, 0o644)
        out = run(CASEWORKER, "--dir", d, "contacts", pin=PIN)
        self.assertExit(out, 5)
        self.assertIn(("%s is readable by others (mode 0644); fix with chmod 600" % p).encode(),
                      out.stderr)
        os.chmod(p, 0o600)
        self.assertExit(run(CASEWORKER, "--dir", d, "contacts", pin=PIN), 0)

    def test_not_enrolled(self):
        d, _ = self.init()
        out = run(CASEWORKER, "--dir", d, "invite", "--no-qr", pin=PIN)
        self.assertExit(out, 1)
        out = run(CASEWORKER, "--dir", d, "sync", pin=PIN)
        self.assertExit(out, 1)
        out = run(CASEWORKER, "--dir", d, "--json", "inbox", pin=PIN)
        self.assertExit(out, 0)
        self.assertIn(b"not enrolled", out.stderr)
        out = run(CASEWORKER, "--dir", d, "enroll", "--relay", "http://127.0.0.1:9",
                  "--token", "not-a-token", "--certificate", "not-a-certificate", pin=PIN)
        self.assertNotEqual(out.returncode, 0)


class TestTerminal(Base):
    """The PIN prompt and the confirmation on a pseudo-terminal."""

    def spawn(self, binary, *args):
        pid, fd = pty.fork()
        if pid == 0:  # the child: its controlling terminal is the pty
            env = dict(os.environ)
            for k in ("SECMSG_PIN", "SECMSG_NEW_PIN", "SECMSG_HOME"):
                env.pop(k, None)
            os.execve(binary, [binary] + list(args), env)
        self.addCleanup(os.close, fd)
        return pid, fd

    def read_until(self, fd, needle, seconds=30):
        out = b""
        end = time.monotonic() + seconds
        while needle not in out and time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
        return out

    def wait(self, pid, fd):
        self.read_until(fd, b"\0never", seconds=0.5)
        _, status = os.waitpid(pid, 0)
        return status

    def test_prompts(self):
        d = os.path.join(self.tmp, "dev")
        # init asks twice; a mismatch changes nothing.
        pid, fd = self.spawn(CASEWORKER, "--dir", d, "init", *FAST_KDF)
        self.read_until(fd, b"New PIN")
        os.write(fd, b"1234\n")
        self.read_until(fd, b"Repeat")
        os.write(fd, b"1235\n")
        self.assertEqual(os.waitstatus_to_exitcode(self.wait(pid, fd)), 2)
        self.assertEqual(os.listdir(d), [])
        pid, fd = self.spawn(CASEWORKER, "--dir", d, "init", *FAST_KDF)
        self.read_until(fd, b"New PIN")
        os.write(fd, b"1234\n")
        self.read_until(fd, b"Repeat")
        os.write(fd, b"1234\n")
        self.assertEqual(os.waitstatus_to_exitcode(self.wait(pid, fd)), 0)
        # The PIN is read without echo, and echo is back afterwards.
        pid, fd = self.spawn(CASEWORKER, "--dir", d, "contacts")
        self.assertIn(b"PIN: ", self.read_until(fd, b"PIN: "))
        self.assertFalse(termios.tcgetattr(fd)[3] & termios.ECHO)
        os.write(fd, b"1234\n")
        out = self.read_until(fd, b"no contacts")
        self.assertNotIn(b"1234", out)
        self.assertEqual(os.waitstatus_to_exitcode(self.wait(pid, fd)), 0)

    def test_signal_during_prompt_restores_echo(self):
        d = os.path.join(self.tmp, "dev")
        self.assertExit(run(CITIZEN, "--dir", d, "init", *FAST_KDF, pin=PIN), 0)
        for sig in (signal.SIGINT, signal.SIGTERM):
            pid, fd = self.spawn(CITIZEN, "--dir", d, "contacts")
            self.read_until(fd, b"PIN: ")
            self.assertFalse(termios.tcgetattr(fd)[3] & termios.ECHO)
            os.kill(pid, sig)
            status = self.wait(pid, fd)
            self.assertTrue(os.WIFSIGNALED(status) and os.WTERMSIG(status) == sig, status)
            self.assertTrue(termios.tcgetattr(fd)[3] & termios.ECHO, "echo left off")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: test_cli_usage.py SECMSG-CASEWORKER SECMSG-CITIZEN [unittest args]")
    CASEWORKER = os.path.abspath(sys.argv[1])
    CITIZEN = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
