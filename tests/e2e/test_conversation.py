"""End to end through a real relay with the real CLIs: enrollment, a
conversation both ways, restarts, wrong PINs, loose file modes, forged and
expired invites."""
import base64
import os
import stat
import time

from harness import (CITIZEN, FAST_KDF, Cli, World, check, conversation, main)


def texts(conv, outgoing):
    return [r["text"] for r in conv if bool(r["outgoing"]) == outgoing]


def handshake(w, cw, ci):
    """The caseworker learns the citizen (hello), the citizen the certificate (welcome)."""
    cw.json("sync")
    ci.json("sync")


def test_conversation_both_ways():
    w = World()
    try:
        cw = w.caseworker()
        ci = w.citizen(cw, "citizen-bo")
        handshake(w, cw, ci)
        cwc = {c["user_id"]: c for c in cw.json("contacts")}
        check("citizen-bo" in cwc, "caseworker has no contact for the citizen: %r" % cwc)
        check(cwc["citizen-bo"]["verification"] == "invite",
              "citizen not verified by invite: %r" % cwc)
        access = ci.json("access")
        check(any(a.get("kind") == "peer_device" and a.get("certified") for a in access),
              "citizen does not see a certified caseworker device: %r" % access)

        ci.json("send", "Hej Anna, jeg kommer kl. 10")
        cw.json("sync")
        cw.json("send", "citizen-bo", "Fint, vi ses i lokale 2.14")
        cw.json("send", "citizen-bo", "Husk dit CV")
        ci.json("sync")
        ci.json("send", "Tak!")
        cw.json("sync")

        c_side = conversation(ci, "cw-anna")
        w_side = conversation(cw, "citizen-bo")
        check(texts(c_side, True) == ["Hej Anna, jeg kommer kl. 10", "Tak!"],
              "citizen outgoing: %r" % c_side)
        check(texts(c_side, False) == ["Fint, vi ses i lokale 2.14", "Husk dit CV"],
              "citizen incoming: %r" % c_side)
        check(texts(w_side, False) == ["Hej Anna, jeg kommer kl. 10", "Tak!"],
              "caseworker incoming: %r" % w_side)
        check(texts(w_side, True) == ["Fint, vi ses i lokale 2.14", "Husk dit CV"],
              "caseworker outgoing: %r" % w_side)

        # Restart the relay: sessions and history live on in both stores.
        w.relay.stop()
        w.relay.start()
        ci.json("send", "Efter genstart")
        cw.json("sync")
        check(texts(conversation(cw, "citizen-bo"), False)[-1] == "Efter genstart",
              "message after restart not received")
        sn1 = ci.json("safety-number")[-1]["safety_number"]
        sn2 = cw.json("safety-number", "citizen-bo")[-1]["safety_number"]
        check(sn1 == sn2 and len(sn1.replace(" ", "")) == 60, "safety numbers differ")
    finally:
        w.close()


def test_wrong_pin_limited():
    w = World()
    try:
        cw = w.caseworker()
        lefts = []
        for _ in range(3):
            out = cw.run("contacts", pin="0000", check_rc=3)
            lefts.append(out.stdout)
        cw.run("contacts")  # the right PIN still works and resets the count
        for i in range(10):
            out = cw.run("contacts", pin="9999", check_rc=3)
        out = cw.run("contacts", check_rc=3)  # locked: even the right PIN is refused
        check("lock" in (out.stdout + out.stderr).lower(), "no lock message: %r" % out.stderr)
    finally:
        w.close()


def test_loose_modes_refused():
    w = World()
    try:
        cw = w.caseworker()
        for name in ("store.db", "store.db.keys", "device.secret"):
            p = os.path.join(cw.home, name)
            mode = stat.S_IMODE(os.stat(p).st_mode)
            os.chmod(p, 0o644)
            cw.run("contacts", check_rc=5)
            os.chmod(p, mode)
        cw.run("contacts")
    finally:
        w.close()


def flip_field(invite, tag):
    """Flips one byte inside the 32-byte field with this tag of an invite string."""
    prefix, b64 = invite.split(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
    i = raw.find(bytes([tag, 32]))
    check(i >= 0, "field not found")
    raw[i + 2 + 5] ^= 0x01
    return prefix + ":" + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_forged_invites_refused():
    w = World()
    try:
        cw = w.caseworker()
        # Wrong caseworker fingerprint: refused before any session exists.
        inv = cw.json("invite", "--user", "citizen-x", "--no-qr")[-1]["invite"]
        ci = Cli(CITIZEN, os.path.join(w.tmp, "x"))
        ci.json("init", *FAST_KDF)
        ci.run("redeem", flip_field(inv, 0x2A), check_rc=5)
        # Wrong root fingerprint: the caseworker's welcome does not verify,
        # the contact is marked failed and nothing is sent to it.
        inv = cw.json("invite", "--user", "citizen-y", "--no-qr")[-1]["invite"]
        cy = Cli(CITIZEN, os.path.join(w.tmp, "y"))
        cy.json("init", *FAST_KDF)
        cy.json("redeem", flip_field(inv, 0x32))
        cw.json("sync")
        out = cy.run("sync", check_rc=5)  # the welcome is refused: a non-zero exit
        check("failed verification" in out.stderr, "no refusal message: %r" % out.stderr)
        cy.run("send", "hello?", check_rc=5)
        # Expired invite.
        inv = cw.json("invite", "--user", "citizen-z", "--ttl", "1", "--no-qr")[-1]["invite"]
        time.sleep(2.2)
        cz = Cli(CITIZEN, os.path.join(w.tmp, "z"))
        cz.json("init", *FAST_KDF)
        cz.run("redeem", inv, check_rc=6)
        # Garbage is not an invite.
        cz.run("redeem", "secmsg-invite:AAAA", check_rc=1)
    finally:
        w.close()


if __name__ == "__main__":
    main([test_conversation_both_ways, test_wrong_pin_limited, test_loose_modes_refused,
          test_forged_invites_refused])
