"""Crash tests: kill -9 a client at random points while it syncs (receiver)
or sends (sender), restart it, and check that every message arrives exactly
once, in order, and that the ratchet still works afterwards.

The kill points are random (fixed seed, printed) over the measured duration
of the operation, so over 50+ rounds they land in every phase: unlock,
fetch, decrypt, commit, ack, outbox flush."""
import os
import random
import signal
import time

from harness import World, check, conversation, main

ROUNDS = int(os.environ.get("SECMSG_CRASH_ROUNDS", "50"))
SEED = int(os.environ.get("SECMSG_CRASH_SEED", "20261123"))


def kill_after(proc, delay):
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    proc.wait()
    return False


class Span:
    """The window kill points are drawn from, adapted so that about half the
    runs are killed: too short a window only ever hits the unlock, too long
    a one never hits anything."""

    def __init__(self, start):
        self.s = max(start, 0.02)

    def draw(self, rnd):
        return rnd.uniform(0, self.s)

    def update(self, killed):
        self.s *= 1.15 if killed else 0.87


def duration(cli, *args):
    t = time.monotonic()
    cli.run(*args)
    return time.monotonic() - t


def incoming(cli, peer):
    return [r["text"] for r in conversation(cli, peer) if not r["outgoing"]]


def outgoing(cli, peer):
    return [r["text"] for r in conversation(cli, peer) if r["outgoing"]]


def test_receiver_killed_during_sync():
    rnd = random.Random(SEED)
    w = World()
    try:
        cw = w.caseworker()
        ci = w.citizen(cw, "citizen-crash")
        cw.json("sync")
        ci.json("sync")
        sent = []
        span = Span(duration(ci, "sync"))
        kills = 0
        for r in range(ROUNDS):
            for k in range(2):
                text = "r%03d-%d" % (r, k)
                cw.json("send", "citizen-crash", text)
                sent.append(text)
            p = ci.popen("sync")
            killed = kill_after(p, span.draw(rnd))
            span.update(killed)
            kills += killed
        for _ in range(5):
            ci.json("sync")
        got = incoming(ci, "cw-anna")
        check(got == sent, "receiver lost or duplicated messages after %d kills:\n"
              "missing %r\nextra %r" % (kills, [t for t in sent if t not in got],
                                        [t for t in got if got.count(t) > 1]))
        cw.json("send", "citizen-crash", "after the crashes")
        ci.json("sync")
        check(incoming(ci, "cw-anna")[-1] == "after the crashes", "ratchet broken after crashes")
        ci.json("send", "reply after the crashes")
        cw.json("sync")
        check(incoming(cw, "citizen-crash")[-1] == "reply after the crashes",
              "reply after crashes not received")
        check(kills >= ROUNDS // 5, "only %d of %d syncs were killed" % (kills, ROUNDS))
        print("receiver: %d rounds, %d killed mid-sync, %d messages" % (ROUNDS, kills, len(sent)))
    finally:
        w.close()


def test_sender_killed_during_send():
    rnd = random.Random(SEED + 1)
    w = World()
    try:
        cw = w.caseworker()
        ci = w.citizen(cw, "citizen-send")
        cw.json("sync")
        ci.json("sync")
        span = Span(duration(ci, "send", "warm-up"))
        kills = 0
        for r in range(ROUNDS):
            p = ci.popen("send", "s%03d" % r)
            killed = kill_after(p, span.draw(rnd))
            span.update(killed)
            kills += killed
            if r % 10 == 9:
                cw.json("sync")
        ci.json("sync")  # flushes whatever the kills left in the outbox
        for _ in range(3):
            cw.json("sync")
        mine = outgoing(ci, "cw-anna")
        theirs = incoming(cw, "citizen-send")
        check(theirs == mine, "sender's conversation and receiver's differ after %d kills:\n"
              "sender %r\nreceiver %r" % (kills, mine, theirs))
        check(len(mine) >= 1 and mine[0] == "warm-up", "warm-up message missing")
        for t in mine:
            check(mine.count(t) == 1, "duplicate %r" % t)
        cw.json("send", "citizen-send", "still in sync")
        ci.json("sync")
        check(incoming(ci, "cw-anna")[-1] == "still in sync", "ratchet broken after sender kills")
        check(kills >= ROUNDS // 5, "only %d of %d sends were killed" % (kills, ROUNDS))
        print("sender: %d rounds, %d killed mid-send, %d messages stored" % (ROUNDS, kills,
                                                                             len(mine)))
    finally:
        w.close()


if __name__ == "__main__":
    main([test_receiver_killed_during_sync, test_sender_killed_during_send])
