#!/usr/bin/env python3
"""secmsg-admin end to end (stdlib only).

Usage: test_admin.py SECMSG_ADMIN ADMIN_TEST_HELPER

Runs root-init, root-fingerprint and certify as real processes in a temporary
directory and checks exit statuses, file modes and outputs; certificates are
decoded and verified by admin-test-helper with the library's codec.
"""
import os
import re
import stat
import subprocess
import sys
import tempfile
import time

ADMIN, HELPER = sys.argv[1], sys.argv[2]
HEX64 = re.compile(r"^[0-9a-f]{64}\n$")
failures = []


def run(*args, stdin=None):
    return subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=60)


def admin(*args):
    return run(ADMIN, *args)


def check(cond, what, proc=None):
    if cond:
        print("ok   " + what)
        return
    detail = ""
    if proc is not None:
        detail = " (exit %d, stdout %r, stderr %r)" % (proc.returncode, proc.stdout, proc.stderr)
    print("FAIL " + what + detail)
    failures.append(what)


def check_cert(text, fp, user, role, identity, days):
    now = int(time.time())
    lo = now + days * 86400 - 300
    hi = now + days * 86400 + 300
    return run(HELPER, "check-cert", fp.strip(), user, str(role), identity, str(lo), str(hi),
               stdin=text)


def main():
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "root.key")

        # --help everywhere, man-page style, exit 0.
        for args in ([], ["root-init"], ["root-fingerprint"], ["certify"]):
            p = admin(*args, "--help")
            check(p.returncode == 0 and "SYNOPSIS" in p.stdout and "EXIT STATUS" in p.stdout,
                  "--help " + " ".join(args), p)
        p = admin("help", "certify")
        check(p.returncode == 0 and "certify" in p.stdout, "help certify", p)

        # Usage errors exit 2.
        for args in ([], ["frobnicate"], ["root-init"], ["root-init", "--bogus"],
                     ["root-init", "--out"], ["root-init", "--out", key, "extra"],
                     ["root-fingerprint"], ["certify"]):
            p = admin(*args)
            check(p.returncode == 2 and p.stderr != "", "usage error: %s" % args, p)
        check(not os.path.exists(key), "no key written by usage errors")

        # root-init: 0600 file of 64 hex digits, fingerprint on stdout.
        p = admin("root-init", "--out", key)
        check(p.returncode == 0, "root-init", p)
        fp = p.stdout
        check(HEX64.match(fp) is not None, "root-init prints a 64-hex fingerprint", p)
        check("offline" in p.stderr, "root-init notes to keep the key offline", p)
        st = os.stat(key)
        check(stat.S_IMODE(st.st_mode) == 0o600, "key file mode 0600")
        with open(key) as f:
            content = f.read()
        check(HEX64.match(content) is not None, "key file holds 64 hex digits and a newline")
        check(content.strip() not in p.stdout + p.stderr, "the seed is not printed")

        # No overwrite.
        p = admin("root-init", "--out", key)
        check(p.returncode == 1 and "exists" in p.stderr, "root-init refuses an existing file", p)
        with open(key) as f:
            check(f.read() == content, "existing key unchanged")
        p = admin("root-init", "--out", os.path.join(d, "missing-dir", "k"))
        check(p.returncode == 1, "root-init into a missing directory fails", p)

        # root-fingerprint.
        p = admin("root-fingerprint", "--root-key", key)
        check(p.returncode == 0 and p.stdout == fp, "root-fingerprint matches root-init", p)
        for mode in (0o640, 0o604, 0o660, 0o644):
            os.chmod(key, mode)
            p = admin("root-fingerprint", "--root-key", key)
            check(p.returncode == 1 and "permission" in p.stderr and p.stdout == "",
                  "root-fingerprint refuses mode %o" % mode, p)
        os.chmod(key, 0o600)
        p = admin("root-fingerprint", "--root-key", os.path.join(d, "nope"))
        check(p.returncode == 1, "root-fingerprint: missing file", p)
        bad = os.path.join(d, "bad.key")
        for body in ("xyz\n", content[:-3] + "\n", content.strip() + "00\n",
                     content.strip() + " junk\n", "", content.strip() + "\0\n"):
            with open(bad, "w") as f:
                f.write(body)
            os.chmod(bad, 0o600)
            p = admin("root-fingerprint", "--root-key", bad)
            check(p.returncode == 1 and "not a secmsg root key" in p.stderr,
                  "root-fingerprint refuses key file %r" % body[:10], p)
        # A CRLF key file is fine.
        with open(bad, "w") as f:
            f.write(content.strip() + "\r\n")
        p = admin("root-fingerprint", "--root-key", bad)
        check(p.returncode == 0 and p.stdout == fp, "CRLF key file accepted", p)

        # certify a caseworker device (identity on the command line).
        p = run(HELPER, "identity")
        check(p.returncode == 0, "helper makes an identity", p)
        ident = p.stdout.strip()
        p = admin("certify", "--root-key", key, "--identity", ident, "--user", "anna.k",
                  "--role", "caseworker")
        check(p.returncode == 0 and p.stdout.startswith("secmsg-cert:"), "certify caseworker", p)
        cert = p.stdout
        check(cert.count("\n") == 1, "certificate is one line")
        p = check_cert(cert, fp, "anna.k", 2, ident, 365)
        check(p.returncode == 0, "caseworker certificate verifies with the pinned root", p)

        # The checker is not vacuous: wrong expectations and tampering fail.
        p = check_cert(cert, "00" * 32, "anna.k", 2, ident, 365)
        check(p.returncode == 1, "checker: wrong root fingerprint detected", p)
        p = check_cert(cert, fp, "anna.k", 3, ident, 365)
        check(p.returncode == 1, "checker: wrong role detected", p)
        i = len("secmsg-cert:") + 40
        tampered = cert[:i] + ("A" if cert[i] != "A" else "B") + cert[i + 1:]
        p = check_cert(tampered, fp, "anna.k", 2, ident, 365)
        check(p.returncode == 1, "checker: tampered certificate refused", p)

        # certify the journal key (identity from a file, 30 days).
        p = run(HELPER, "identity")
        ident2 = p.stdout.strip()
        idf = os.path.join(d, "journal.id")
        with open(idf, "w") as f:
            f.write("  " + ident2 + "\n")
        p = admin("certify", "-k", key, "--identity-file", idf, "-u", "journal", "-r", "journal",
                  "--days", "30")
        check(p.returncode == 0, "certify journal from a file", p)
        p = check_cert(p.stdout, fp, "journal", 3, ident2, 30)
        check(p.returncode == 0, "journal certificate verifies", p)

        # certify: usage errors (2) and failures (1).
        base = ["certify", "--root-key", key, "--user", "anna"]
        for extra, what in (([], "no identity, no role"),
                            (["--identity", ident], "no role"),
                            (["--identity", ident, "--role", "citizen"], "role citizen"),
                            (["--identity", ident, "--identity-file", idf, "--role",
                              "caseworker"], "both identity options"),
                            (["--identity", "xyz", "--role", "caseworker"], "identity not hex"),
                            (["--identity", ident, "--role", "caseworker", "--days", "0"],
                             "days 0"),
                            (["--identity", ident, "--role", "caseworker", "--days", "3651"],
                             "days 3651"),
                            (["--identity", ident, "--role", "caseworker", "--days", "7x"],
                             "days 7x")):
            p = admin(*base, *extra)
            check(p.returncode == 2 and p.stdout == "", "certify usage error: " + what, p)
        for user in ("", ".", "..", "a/b", "x" * 65, "anna berg"):
            p = admin("certify", "--root-key", key, "--identity", ident, "--user", user,
                      "--role", "caseworker")
            check(p.returncode == 2, "certify refuses user id %r" % user, p)
        broken = ident[:-2] + ("00" if ident[-2:] != "00" else "01")
        p = admin(*base, "--identity", broken, "--role", "caseworker")
        check(p.returncode == 1 and "not a valid" in p.stderr and p.stdout == "",
              "certify refuses a tampered identity", p)
        os.chmod(key, 0o644)
        p = admin(*base, "--identity", ident, "--role", "caseworker")
        check(p.returncode == 1 and p.stdout == "", "certify refuses a loose key file", p)
        os.chmod(key, 0o600)
        p = admin(*base, "--identity-file", os.path.join(d, "nope"), "--role", "caseworker")
        check(p.returncode == 1, "certify: missing identity file", p)

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
