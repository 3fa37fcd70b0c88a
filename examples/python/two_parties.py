#!/usr/bin/env python3
"""secmsg from Python through ctypes (standard library only).

A caseworker and a citizen, each a secmsg_client with its own encrypted
store, enroll at a real relay, exchange messages both ways and read them
back, all through the public C API of libsecmsg.so. The relay and the
municipality's admin steps (root key, certificate, caseworker token) are
run as the real programs, as a municipality would.

Usage: two_parties.py  (paths from the environment, or the defaults below)
  SECMSG_LIB    path to libsecmsg.so      (build/libsecmsg/libsecmsg.so)
  SECMSG_RELAY  path to secmsg-relay      (build/server-relay/src/secmsg-relay)
  SECMSG_ADMIN  path to secmsg-admin      (build/clients/admin/secmsg-admin)
"""
import ctypes as C
import os
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
LIB = os.environ.get("SECMSG_LIB", os.path.join(ROOT, "build/libsecmsg/libsecmsg.so"))
RELAY = os.environ.get("SECMSG_RELAY", os.path.join(ROOT, "build/server-relay/src/secmsg-relay"))
ADMIN = os.environ.get("SECMSG_ADMIN", os.path.join(ROOT, "build/clients/admin/secmsg-admin"))

USER_ID_BYTES = 65


class Message(C.Structure):
    """struct secmsg_message (secmsg/client.h)."""
    _fields_ = [("id", C.c_uint8 * 16), ("peer", C.c_char * USER_ID_BYTES),
                ("outgoing", C.c_int32), ("status", C.c_int32), ("sent_at", C.c_uint64),
                ("stored_at", C.c_uint64), ("text_len", C.c_size_t)]


class Event(C.Structure):
    """struct secmsg_event (secmsg/client.h)."""
    _fields_ = [("type", C.c_int32), ("code", C.c_int32), ("peer", C.c_char * USER_ID_BYTES),
                ("message_id", C.c_uint8 * 16), ("at", C.c_uint64)]


EVENT_NAMES = {1: "message", 2: "receipt", 3: "contact added", 4: "contact verified",
               5: "error"}

lib = C.CDLL(LIB)
P = C.c_void_p
lib.secmsg_init.restype = C.c_int
lib.secmsg_strerror.restype = C.c_char_p
lib.secmsg_strerror.argtypes = [C.c_int]
lib.secmsg_client_last_error.restype = C.c_char_p
lib.secmsg_client_last_error.argtypes = [P]
lib.secmsg_client_create.argtypes = [C.POINTER(P), C.c_char_p, C.c_char_p, C.c_size_t,
                                     C.c_char_p, C.c_size_t, C.c_uint32, C.c_uint32]
lib.secmsg_client_close.argtypes = [P]
lib.secmsg_client_close.restype = None
lib.secmsg_client_identity_public.argtypes = [P, C.c_char_p, C.c_size_t,
                                              C.POINTER(C.c_size_t)]
lib.secmsg_client_enroll_caseworker.argtypes = [P, C.c_char_p, C.c_char_p, C.c_char_p]
lib.secmsg_client_create_invite.argtypes = [P, C.c_char_p, C.c_uint32, C.c_char_p, C.c_size_t,
                                            C.POINTER(C.c_size_t)]
lib.secmsg_client_redeem_invite.argtypes = [P, C.c_char_p]
lib.secmsg_client_sync.argtypes = [P, C.c_uint32, C.POINTER(C.c_size_t)]
lib.secmsg_client_send_text.argtypes = [P, C.c_char_p, C.c_char_p, C.c_size_t, C.c_char_p]
lib.secmsg_client_message_count.argtypes = [P, C.c_char_p, C.POINTER(C.c_size_t)]
lib.secmsg_client_message_get.argtypes = [P, C.c_char_p, C.c_size_t, C.POINTER(Message),
                                          C.c_char_p, C.c_size_t]
lib.secmsg_client_next_event.argtypes = [P, C.POINTER(Event)]
lib.secmsg_client_safety_number.argtypes = [P, C.c_char_p, C.c_char_p]


class SecmsgError(Exception):
    pass


class Client:
    """A thin Python face over one secmsg_client handle."""

    def __init__(self, path, pin, secret):
        self.h = P()
        # Small Argon2id cost for the example; 0, 0 gives the phone defaults.
        self.ok(lib.secmsg_client_create(C.byref(self.h), path.encode(), secret, len(secret),
                                         pin.encode(), len(pin), 1, 8192), "create")

    def ok(self, rc, what):
        if rc != 0:
            detail = lib.secmsg_client_last_error(self.h).decode() if self.h else ""
            raise SecmsgError("%s: %s (%s)" % (what, lib.secmsg_strerror(rc).decode(), detail))

    def identity_hex(self):
        buf = C.create_string_buffer(256)
        n = C.c_size_t()
        self.ok(lib.secmsg_client_identity_public(self.h, buf, 256, C.byref(n)), "identity")
        return buf.raw[:n.value].hex()

    def enroll_caseworker(self, url, token, cert):
        self.ok(lib.secmsg_client_enroll_caseworker(self.h, url.encode(), token.encode(),
                                                    cert.encode()), "enroll")

    def invite(self, user):
        buf = C.create_string_buffer(1024)
        n = C.c_size_t()
        self.ok(lib.secmsg_client_create_invite(self.h, user.encode(), 0, buf, 1024,
                                                C.byref(n)), "invite")
        return buf.value.decode()

    def redeem(self, invite):
        self.ok(lib.secmsg_client_redeem_invite(self.h, invite.encode()), "redeem")

    def sync(self):
        n = C.c_size_t()
        self.ok(lib.secmsg_client_sync(self.h, 0, C.byref(n)), "sync")
        return n.value

    def send(self, peer, text):
        data = text.encode()
        self.ok(lib.secmsg_client_send_text(self.h, peer.encode(), data, len(data), None),
                "send")

    def conversation(self, peer):
        n = C.c_size_t()
        self.ok(lib.secmsg_client_message_count(self.h, peer.encode(), C.byref(n)), "count")
        out = []
        for i in range(n.value):
            m = Message()
            text = C.create_string_buffer(65537)
            self.ok(lib.secmsg_client_message_get(self.h, peer.encode(), i, C.byref(m), text,
                                                  65537), "message")
            out.append((bool(m.outgoing), text.value.decode()))
        return out

    def events(self):
        out = []
        while True:
            ev = Event()
            self.ok(lib.secmsg_client_next_event(self.h, C.byref(ev)), "event")
            if ev.type == 0:
                return out
            out.append((EVENT_NAMES.get(ev.type, str(ev.type)), ev.peer.decode()))

    def safety_number(self, peer):
        buf = C.create_string_buffer(61)
        self.ok(lib.secmsg_client_safety_number(self.h, peer.encode(), buf), "safety number")
        return buf.value.decode()

    def close(self):
        lib.secmsg_client_close(self.h)
        self.h = P()


def run(*args):
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise SecmsgError("%s failed: %s" % (args[0], out.stderr.strip()))
    return out.stdout.strip()


def main():
    if lib.secmsg_init() != 0:
        sys.exit("secmsg_init failed")
    tmp = tempfile.mkdtemp(prefix="secmsg-py-")
    relay = subprocess.Popen([RELAY, "serve", "--listen", "127.0.0.1", "--port", "0",
                              "--db", os.path.join(tmp, "relay.db"), "--insecure-loopback"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = relay.stdout.readline().decode().strip()
        url = "http://" + line.split("listening on ", 1)[1]
        print("relay:", url)
        root_key = os.path.join(tmp, "root.key")
        run(ADMIN, "root-init", "--out", root_key)

        anna = Client(os.path.join(tmp, "anna.db"), "2468", os.urandom(32))
        token = run(RELAY, "admin", "token", "--role", "caseworker", "--user", "anna",
                    "--db", os.path.join(tmp, "relay.db"))
        cert = run(ADMIN, "certify", "--root-key", root_key, "--identity", anna.identity_hex(),
                   "--user", "anna", "--role", "caseworker")
        anna.enroll_caseworker(url, token, cert)
        invite = anna.invite("bo")
        print("invite:", invite[:40] + "...")

        bo = Client(os.path.join(tmp, "bo.db"), "1357", os.urandom(32))
        bo.redeem(invite)
        anna.sync()      # the hello: Anna learns Bo's device
        bo.sync()        # the welcome: Bo checks Anna's root certificate
        print("anna events:", anna.events())
        print("bo events:", bo.events())

        bo.send("anna", "Hej Anna, fra Python")
        anna.sync()
        anna.send("bo", "Hej Bo, modtaget")
        bo.sync()

        conv_bo = bo.conversation("anna")
        conv_anna = anna.conversation("bo")
        for who, conv in (("bo", conv_bo), ("anna", conv_anna)):
            for outgoing, text in conv:
                print("%-4s %s %s" % (who, "->" if outgoing else "<-", text))
        expect = [(True, "Hej Anna, fra Python"), (False, "Hej Bo, modtaget")]
        if conv_bo != expect or [(not o, t) for o, t in conv_anna] != expect:
            sys.exit("conversation mismatch: %r / %r" % (conv_bo, conv_anna))
        if anna.safety_number("bo") != bo.safety_number("anna"):
            sys.exit("safety numbers differ")
        print("safety number:", bo.safety_number("anna"))
        anna.close()
        bo.close()
        print("ok")
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
