/* The Double Ratchet with header encryption: long conversations, random
 * delivery schedules (reordering, drops, duplicates, persistence), tamper and
 * truncation rejection with the state unchanged, and the skip limits. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(ratchet, .init = t_setup);

/* n consecutive messages with plaintext indices first..first+n-1. */
static t_bytes *send_many(secmsg_session *s, uint32_t dir, uint32_t first, uint32_t n)
{
    t_bytes *m = calloc(n, sizeof *m);
    cr_assert_not_null(m);
    for (uint32_t i = 0; i < n; i++)
        m[i] = t_send(s, dir, first + i);
    return m;
}

static void free_many(t_bytes *m, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        t_bytes_free(&m[i]);
    free(m);
}

/* Bob replies once and Alice reads it, so Alice's next message opens a new
 * sending chain (a DH ratchet step). */
static void bob_replies(t_pair *p, uint32_t idx)
{
    t_bytes r = t_send(p->bob, T_DIR_BA, idx);
    t_recv(p->alice, &r, T_DIR_BA, idx);
    t_bytes_free(&r);
}

/* 1000 messages each way, strictly alternating (a DH ratchet step on every
 * message): every one decrypts to its own plaintext. */
Test(ratchet, thousand_each_way_alternating)
{
    t_pair p;
    t_pair_establish(&p, 1);
    for (uint32_t i = 1; i <= 1000; i++) {
        t_bytes a = t_send(p.alice, T_DIR_AB, i);
        t_recv(p.bob, &a, T_DIR_AB, i);
        t_bytes b = t_send(p.bob, T_DIR_BA, i);
        t_recv(p.alice, &b, T_DIR_BA, i);
        t_bytes_free(&a), t_bytes_free(&b);
    }
    t_pair_free(&p);
}

/* 1000 messages each way in random bursts, sometimes both sides sending
 * before either reads (crossing chains): in-order delivery always works and
 * contents are right. */
Test(ratchet, thousand_each_way_in_bursts)
{
    t_pair p;
    t_pair_establish(&p, 0);
    t_rng rng;
    t_rng_seed(&rng, 0xB0257);
    uint32_t next[2] = {1, 1};
    while (next[0] <= 1000 || next[1] <= 1000) {
        uint32_t len[2], mode = t_rng_below(&rng, 3);
        t_bytes *burst[2] = {NULL, NULL};
        for (uint32_t d = 0; d < 2; d++) {
            len[d] = 1 + t_rng_below(&rng, 64);
            if (next[d] + len[d] > 1001)
                len[d] = 1001 - next[d];
            if (mode != 2 && mode != d)
                len[d] = 0;
        }
        /* mode 0: Alice only, 1: Bob only, 2: both send, then both read */
        for (uint32_t d = 0; d < 2; d++)
            if (len[d])
                burst[d] = send_many(d == T_DIR_AB ? p.alice : p.bob, d, next[d], len[d]);
        for (uint32_t d = 0; d < 2; d++) {
            for (uint32_t i = 0; i < len[d]; i++)
                t_recv(d == T_DIR_AB ? p.bob : p.alice, &burst[d][i], d, next[d] + i);
            if (len[d])
                free_many(burst[d], len[d]);
            next[d] += len[d];
        }
    }
    t_pair_free(&p);
}

/* ---- random schedules ---- */

#define SCHED_MAX 1024U
#define SCHED_WINDOW 8U

enum { IN_FLIGHT, DELIVERED, DROPPED };

typedef struct smsg {
    t_bytes bytes;
    int32_t chain; /* model: the sender's sending-chain number */
    uint32_t n;    /* position in that chain */
    int state;
} smsg;

/* Model of one side: which chains exist. Party index == direction it sends. */
typedef struct sparty {
    int32_t send_chain; /* -1: no session yet */
    int32_t recv_chain; /* newest peer chain read, -1 none */
    uint32_t n_in_chain;
} sparty;

typedef struct sched {
    t_pair p;
    t_rng rng;
    smsg msgs[2][SCHED_MAX];
    uint32_t count[2];
    sparty party[2];
    uint32_t dup_dir[SCHED_MAX * 2], dup_idx[SCHED_MAX * 2];
    uint32_t ndup;
    uint32_t n_reordered, n_dropped, n_duplicates, n_reloads; /* coverage */
} sched;

static secmsg_session **sched_session(sched *s, uint32_t who)
{
    return who == T_DIR_AB ? &s->p.alice : &s->p.bob;
}

static void sched_send(sched *s, uint32_t d)
{
    sparty *me = &s->party[d];
    if (me->send_chain < 0 || s->count[d] == SCHED_MAX)
        return;
    smsg *m = &s->msgs[d][s->count[d]];
    m->bytes = t_send(*sched_session(s, d), d, s->count[d]);
    m->chain = me->send_chain;
    m->n = me->n_in_chain++;
    m->state = IN_FLIGHT;
    s->count[d]++;
}

/* Delivers message idx of direction d to the other side; must succeed. */
static void sched_receive(sched *s, uint32_t d, uint32_t idx)
{
    uint32_t r = 1 - d;
    smsg *m = &s->msgs[d][idx];
    secmsg_session **rs = sched_session(s, r);
    if (*rs == NULL) {
        t_pair_accept(&s->p, &m->bytes, d, idx);
    } else {
        t_recv(*rs, &m->bytes, d, idx);
    }
    m->state = DELIVERED;
    sparty *rp = &s->party[r];
    if (m->chain > rp->recv_chain) {
        rp->recv_chain = m->chain;
        rp->send_chain++;
        rp->n_in_chain = 0;
    }
}

/* Does the receiver still hold skipped keys (and so the header key) for the
 * chain of message idx? Older chains were closed with all their messages
 * known (PN); in the current chain only those below the newest read count. */
static int sched_chain_has_skipped(const sched *s, uint32_t d, uint32_t idx)
{
    const smsg *m = &s->msgs[d][idx];
    int current = m->chain == s->party[1 - d].recv_chain;
    uint32_t extent = 0;
    for (uint32_t i = 0; i < s->count[d]; i++) {
        const smsg *o = &s->msgs[d][i];
        if (o->chain == m->chain && o->state == DELIVERED && o->n + 1 > extent)
            extent = o->n + 1;
    }
    for (uint32_t i = 0; i < s->count[d]; i++) {
        const smsg *o = &s->msgs[d][i];
        if (o->chain == m->chain && o->state != DELIVERED && (!current || o->n < extent))
            return 1;
    }
    return 0;
}

/* A duplicate must be rejected with the state unchanged: DUPLICATE whenever
 * the receiver can still recognise the chain (current chain, or a chain with
 * skipped keys); otherwise it cannot tell a replay from garbage: DECRYPT. */
static void sched_redeliver(sched *s)
{
    if (s->ndup == 0)
        return;
    uint32_t k = t_rng_below(&s->rng, s->ndup);
    uint32_t d = s->dup_dir[k], idx = s->dup_idx[k];
    s->ndup--;
    s->dup_dir[k] = s->dup_dir[s->ndup];
    s->dup_idx[k] = s->dup_idx[s->ndup];
    const smsg *m = &s->msgs[d][idx];
    s->n_duplicates++;
    int known = m->chain == s->party[1 - d].recv_chain || sched_chain_has_skipped(s, d, idx);
    int rc = t_expect_reject(*sched_session(s, 1 - d), m->bytes.data, m->bytes.len, 0);
    cr_assert_eq(rc, known ? SECMSG_E_DUPLICATE : SECMSG_E_DECRYPT,
                 "duplicate of dir %u msg %u (chain %d, n %u; receiver chain %d): %s", d, idx,
                 m->chain, m->n, s->party[1 - d].recv_chain, secmsg_strerror(rc));
}

/* Delivers one in-flight message of direction d chosen among the oldest
 * `window`; with drop_pct % it is dropped instead. */
static void sched_deliver(sched *s, uint32_t d, uint32_t window, uint32_t drop_pct)
{
    uint32_t cand[SCHED_WINDOW], nc = 0;
    for (uint32_t i = 0; i < s->count[d] && nc < window; i++)
        if (s->msgs[d][i].state == IN_FLIGHT)
            cand[nc++] = i;
    if (nc == 0)
        return;
    uint32_t pick = t_rng_below(&s->rng, nc), idx = cand[pick];
    if (t_rng_below(&s->rng, 100) < drop_pct) {
        s->msgs[d][idx].state = DROPPED;
        s->n_dropped++;
        return;
    }
    s->n_reordered += pick > 0;
    sched_receive(s, d, idx);
    if (t_rng_below(&s->rng, 6) == 0) {
        s->dup_dir[s->ndup] = d;
        s->dup_idx[s->ndup] = idx;
        s->ndup++;
    }
}

/* Runs `steps` random actions from `seed`, then delivers everything left:
 * every message not dropped decrypts exactly once to its plaintext. */
static void run_schedule(uint64_t seed, uint32_t steps, int use_otpk)
{
    sched *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    t_pair_init(&s->p, use_otpk);
    t_rng_seed(&s->rng, seed);
    s->party[0] = (sparty){.send_chain = 0, .recv_chain = -1};
    s->party[1] = (sparty){.send_chain = -1, .recv_chain = -1};
    for (uint32_t step = 0; step < steps; step++) {
        uint32_t a = t_rng_below(&s->rng, 100);
        if (a < 25)
            sched_send(s, T_DIR_AB);
        else if (a < 50)
            sched_send(s, T_DIR_BA);
        else if (a < 70)
            sched_deliver(s, T_DIR_AB, SCHED_WINDOW, 10);
        else if (a < 90)
            sched_deliver(s, T_DIR_BA, SCHED_WINDOW, 10);
        else if (a < 96)
            sched_redeliver(s);
        else {
            secmsg_session **ss = sched_session(s, t_rng_below(&s->rng, 2));
            if (*ss) {
                *ss = t_session_reload(*ss);
                s->n_reloads++;
            }
        }
    }
    cr_assert(s->n_reordered && s->n_dropped && s->n_duplicates && s->n_reloads,
              "seed %llu exercised too little: %u reordered, %u dropped, %u duplicates, "
              "%u reloads",
              (unsigned long long)seed, s->n_reordered, s->n_dropped, s->n_duplicates,
              s->n_reloads);
    for (uint32_t d = 0; d < 2; d++)
        for (uint32_t i = 0; i < s->count[d]; i++)
            if (s->msgs[d][i].state == IN_FLIGHT)
                sched_deliver(s, d, 1, 0);
    while (s->ndup)
        sched_redeliver(s);
    for (uint32_t d = 0; d < 2; d++)
        for (uint32_t i = 0; i < s->count[d]; i++) {
            cr_assert(s->msgs[d][i].state != IN_FLIGHT);
            t_bytes_free(&s->msgs[d][i].bytes);
        }
    t_pair_free(&s->p);
    free(s);
}

/* Seeded random schedules of interleaved sending by both sides, reordering
 * within a window of 8, 10 % drops, duplicates and save/restore at random
 * points: every delivered message decrypts exactly once, correctly. */
Test(ratchet, random_schedules_seeds_1_to_3)
{
    for (uint64_t seed = 1; seed <= 3; seed++)
        run_schedule(seed * 0x1234567ULL, 700, (int)(seed & 1));
}

Test(ratchet, random_schedules_seeds_4_to_6)
{
    for (uint64_t seed = 4; seed <= 6; seed++)
        run_schedule(seed * 0x1234567ULL, 700, (int)(seed & 1));
}

/* ---- tampering ---- */

/* Every single-bit flip of msg is rejected with Bob's state unchanged, and the
 * intact message then decrypts. */
static void flips_rejected_then_ok(secmsg_session *s, t_bytes *msg, uint32_t dir, uint32_t idx)
{
    for (size_t bit = 0; bit < msg->len * 8; bit++) {
        msg->data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        t_expect_reject(s, msg->data, msg->len, 0);
        msg->data[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    t_recv(s, msg, dir, idx);
}

/* Bit flips are rejected, state unchanged, on all three header-key paths: a
 * message decrypted with a skipped key, one in the current receiving chain,
 * and one that starts a new chain (DH ratchet step). */
Test(ratchet, every_bit_flip_rejected_state_unchanged)
{
    t_pair p;
    t_pair_establish(&p, 1);
    t_bytes *m = send_many(p.alice, T_DIR_AB, 1, 4);   /* new chain, n = 0..3 */
    t_recv(p.bob, &m[2], T_DIR_AB, 3);                 /* skips n = 0, 1 */
    flips_rejected_then_ok(p.bob, &m[0], T_DIR_AB, 1); /* skipped key */
    flips_rejected_then_ok(p.bob, &m[3], T_DIR_AB, 4); /* current chain */
    bob_replies(&p, 1);
    t_bytes next = t_send(p.alice, T_DIR_AB, 5);
    flips_rejected_then_ok(p.bob, &next, T_DIR_AB, 5); /* new chain */
    t_recv(p.bob, &m[1], T_DIR_AB, 2);
    t_bytes_free(&next);
    free_many(m, 4);
    t_pair_free(&p);
}

/* Every proper prefix of a ratchet message is MALFORMED or DECRYPT (empty:
 * INVALID_ARG allowed) with the state unchanged. */
Test(ratchet, every_truncation_rejected)
{
    t_pair p;
    t_pair_establish(&p, 0);
    t_bytes m = t_send(p.alice, T_DIR_AB, 1);
    for (size_t len = 0; len < m.len; len++) {
        int rc = t_expect_reject(p.bob, m.data, len, 0);
        cr_assert(rc == SECMSG_E_MALFORMED || rc == SECMSG_E_DECRYPT ||
                      (len == 0 && rc == SECMSG_E_INVALID_ARG),
                  "prefix %zu/%zu: %s", len, m.len, secmsg_strerror(rc));
    }
    t_recv(p.bob, &m, T_DIR_AB, 1);
    t_bytes_free(&m);
    t_pair_free(&p);
}

/* A message from another conversation (other session, even between the same
 * two identities) is DECRYPT with the state unchanged. */
Test(ratchet, message_from_other_session_is_decrypt)
{
    t_pair p, q;
    t_pair_establish(&p, 1);
    t_pair_establish(&q, 0);
    t_bytes foreign = t_send(q.alice, T_DIR_AB, 1);
    t_expect_reject(p.bob, foreign.data, foreign.len, SECMSG_E_DECRYPT);
    t_bytes foreign_reply = t_send(q.bob, T_DIR_BA, 1);
    t_expect_reject(p.alice, foreign_reply.data, foreign_reply.len, SECMSG_E_DECRYPT);
    /* Alice's own message fed back to her */
    t_bytes own = t_send(p.alice, T_DIR_AB, 1);
    t_expect_reject(p.alice, own.data, own.len, SECMSG_E_DECRYPT);
    t_recv(p.bob, &own, T_DIR_AB, 1);
    t_bytes_free(&foreign), t_bytes_free(&foreign_reply), t_bytes_free(&own);
    t_pair_free(&p);
    t_pair_free(&q);
}

/* Replays are DUPLICATE with the state unchanged: in the current chain, of a
 * message read with a skipped key, and of the accepted initial message. */
Test(ratchet, duplicates_rejected)
{
    t_pair p;
    t_pair_init(&p, 1);
    t_bytes *a = send_many(p.alice, T_DIR_AB, 0, 3);
    t_pair_accept(&p, &a[0], T_DIR_AB, 0);
    t_expect_reject(p.bob, a[0].data, a[0].len, SECMSG_E_DUPLICATE);
    t_recv(p.bob, &a[2], T_DIR_AB, 2);
    t_expect_reject(p.bob, a[2].data, a[2].len, SECMSG_E_DUPLICATE);
    t_recv(p.bob, &a[1], T_DIR_AB, 1);
    t_expect_reject(p.bob, a[1].data, a[1].len, SECMSG_E_DUPLICATE);
    t_bytes r = t_send(p.bob, T_DIR_BA, 0);
    t_recv(p.alice, &r, T_DIR_BA, 0);
    t_expect_reject(p.alice, r.data, r.len, SECMSG_E_DUPLICATE);
    t_bytes_free(&r);
    free_many(a, 3);
    t_pair_free(&p);
}

/* ---- skip limits ---- */

/* A new chain whose first message is more than SECMSG_MAX_SKIP ahead is
 * TOO_FAR with the state unchanged (including the DH ratchet step); exactly
 * SECMSG_MAX_SKIP ahead works, and so do all skipped messages afterwards. */
Test(ratchet, too_far_in_new_chain)
{
    t_pair p;
    t_pair_establish(&p, 1);
    const uint32_t n = SECMSG_MAX_SKIP + 2;
    t_bytes *m = send_many(p.alice, T_DIR_AB, 1, n); /* chain positions 0..n-1 */
    t_expect_reject(p.bob, m[n - 1].data, m[n - 1].len, SECMSG_E_TOO_FAR);
    t_recv(p.bob, &m[n - 2], T_DIR_AB, n - 1);
    for (uint32_t i = 0; i < n - 2; i++)
        t_recv(p.bob, &m[i], T_DIR_AB, i + 1);
    t_recv(p.bob, &m[n - 1], T_DIR_AB, n);
    bob_replies(&p, 1);
    free_many(m, n);
    t_pair_free(&p);
}

/* The same limit inside the current receiving chain. */
Test(ratchet, too_far_in_current_chain)
{
    t_pair p;
    t_pair_establish(&p, 0);
    t_bytes first = t_send(p.alice, T_DIR_AB, 1);
    t_recv(p.bob, &first, T_DIR_AB, 1);
    const uint32_t n = SECMSG_MAX_SKIP + 2;
    t_bytes *m = send_many(p.alice, T_DIR_AB, 2, n);
    t_expect_reject(p.bob, m[n - 1].data, m[n - 1].len, SECMSG_E_TOO_FAR);
    t_recv(p.bob, &m[n - 2], T_DIR_AB, n);
    for (uint32_t i = 0; i < n - 2; i++)
        t_recv(p.bob, &m[i], T_DIR_AB, i + 2);
    t_recv(p.bob, &m[n - 1], T_DIR_AB, n + 1);
    t_bytes_free(&first);
    free_many(m, n);
    t_pair_free(&p);
}

/* The limit also applies to the keys skipped at the end of the previous chain
 * (announced by PN in a new chain's header): TOO_FAR, state unchanged; after
 * one in-window message of the old chain the new chain is in reach. */
Test(ratchet, too_far_in_previous_chain)
{
    t_pair p;
    t_pair_establish(&p, 1);
    const uint32_t n = SECMSG_MAX_SKIP + 2;
    t_bytes *m = send_many(p.alice, T_DIR_AB, 1, n); /* chain positions 0..n-1 */
    t_recv(p.bob, &m[0], T_DIR_AB, 1);
    t_bytes r = t_send(p.bob, T_DIR_BA, 1);
    t_recv(p.alice, &r, T_DIR_BA, 1);
    t_bytes next = t_send(p.alice, T_DIR_AB, n + 1); /* new chain, PN = n */
    t_expect_reject(p.bob, next.data, next.len, SECMSG_E_TOO_FAR);
    t_recv(p.bob, &m[1], T_DIR_AB, 2);
    t_recv(p.bob, &next, T_DIR_AB, n + 1);
    for (uint32_t i = 2; i < n; i++)
        t_recv(p.bob, &m[i], T_DIR_AB, i + 1);
    t_bytes_free(&r), t_bytes_free(&next);
    free_many(m, n);
    t_pair_free(&p);
}

/* At most SECMSG_MAX_SKIPPED_TOTAL skipped keys are kept across chains and
 * the oldest go first: after 1000 + 1000 + 10 skipped keys in three chains,
 * exactly the 10 oldest are gone (rejected, state unchanged) and every other
 * skipped message, the newest included, still decrypts. */
Test(ratchet, skipped_total_cap_evicts_oldest)
{
    t_pair p;
    t_pair_establish(&p, 1);
    const uint32_t sizes[3] = {SECMSG_MAX_SKIP + 1, SECMSG_MAX_SKIP + 1, 11};
    t_bytes *chain[3];
    uint32_t base[3], idx = 1;
    for (uint32_t c = 0; c < 3; c++) {
        base[c] = idx;
        chain[c] = send_many(p.alice, T_DIR_AB, idx, sizes[c]);
        idx += sizes[c];
        uint32_t last = sizes[c] - 1;
        t_recv(p.bob, &chain[c][last], T_DIR_AB, base[c] + last); /* skips 0..last-1 */
        bob_replies(&p, 1 + c);
    }
    cr_assert_eq(SECMSG_MAX_SKIPPED_TOTAL, 2U * SECMSG_MAX_SKIP);
    const uint32_t evicted = 2U * SECMSG_MAX_SKIP + 10U - SECMSG_MAX_SKIPPED_TOTAL;
    for (uint32_t i = 0; i < evicted; i++) {
        int rc = t_expect_reject(p.bob, chain[0][i].data, chain[0][i].len, 0);
        cr_assert(rc == SECMSG_E_DUPLICATE || rc == SECMSG_E_DECRYPT, "evicted key %u: %s", i,
                  secmsg_strerror(rc));
    }
    t_recv(p.bob, &chain[2][9], T_DIR_AB, base[2] + 9); /* the newest skipped key */
    for (uint32_t c = 0; c < 3; c++)
        for (uint32_t i = (c == 0 ? evicted : 0); i + 1 < sizes[c]; i++)
            if (!(c == 2 && i == 9))
                t_recv(p.bob, &chain[c][i], T_DIR_AB, base[c] + i);
    for (uint32_t c = 0; c < 3; c++)
        free_many(chain[c], sizes[c]);
    t_pair_free(&p);
}

/* Skipped keys are kept for at most SECMSG_MAX_SKIPPED_CHAINS chains: with
 * one skipped message in each of 40 chains, the 8 oldest chains are evicted
 * whole (their messages are refused, leaving the state unchanged) and the
 * 32 newest still decrypt, well under the SECMSG_MAX_SKIPPED_TOTAL cap. */
Test(ratchet, skipped_keys_kept_for_newest_chains)
{
    t_pair p;
    t_pair_establish(&p, 0);
    const uint32_t chains = 40;
    const uint32_t evicted = chains - SECMSG_MAX_SKIPPED_CHAINS;
    t_bytes held[40];
    for (uint32_t c = 0; c < chains; c++) {
        uint32_t idx = 1 + 2 * c;
        held[c] = t_send(p.alice, T_DIR_AB, idx);
        t_bytes next = t_send(p.alice, T_DIR_AB, idx + 1);
        t_recv(p.bob, &next, T_DIR_AB, idx + 1); /* skips held[c] */
        bob_replies(&p, 1 + c);
        t_bytes_free(&next);
    }
    for (uint32_t c = 0; c < chains; c++) {
        t_bytes got;
        if (c < evicted) {
            t_expect_reject(p.bob, held[c].data, held[c].len, 0);
        } else {
            int rc = t_decrypt(p.bob, &held[c], &got);
            cr_expect_eq(rc, SECMSG_OK, "skipped key of chain %u of %u lost: %s", c + 1, chains,
                         secmsg_strerror(rc));
            t_bytes_free(&got);
        }
        t_bytes_free(&held[c]);
    }
    t_pair_free(&p);
}

/* ---- persistence ---- */

/* Save/restore at awkward points keeps everything: the initiator before the
 * first reply (still sends initial messages Bob can accept), and both sides
 * while holding skipped keys (the skipped messages decrypt after restore). */
Test(ratchet, serialize_mid_conversation)
{
    t_pair p;
    t_pair_init(&p, 1);
    p.alice = t_session_reload(p.alice);
    t_bytes a0 = t_send(p.alice, T_DIR_AB, 0);
    p.alice = t_session_reload(p.alice);
    t_bytes a1 = t_send(p.alice, T_DIR_AB, 1);
    int type = 0;
    cr_assert_eq(secmsg_message_info(a1.data, a1.len, &type, NULL, 0, NULL), SECMSG_OK);
    cr_assert_eq(type, SECMSG_MESSAGE_INITIAL, "restored initiator lost its pending prekey info");
    t_pair_accept(&p, &a1, T_DIR_AB, 1);
    p.bob = t_session_reload(p.bob);
    t_recv(p.bob, &a0, T_DIR_AB, 0);

    t_rng rng;
    t_rng_seed(&rng, 77);
    uint32_t next[2] = {2, 0};
    for (uint32_t round = 0; round < 40; round++) {
        uint32_t d = round & 1;
        secmsg_session **tx = d == T_DIR_AB ? &p.alice : &p.bob;
        secmsg_session **rx = d == T_DIR_AB ? &p.bob : &p.alice;
        uint32_t k = 2 + t_rng_below(&rng, 6);
        t_bytes *m = send_many(*tx, d, next[d], k);
        if (t_rng_below(&rng, 2))
            *tx = t_session_reload(*tx);
        t_recv(*rx, &m[k - 1], d, next[d] + k - 1); /* holds k-1 skipped keys */
        *rx = t_session_reload(*rx);
        for (uint32_t i = 0; i + 1 < k; i++) {
            t_recv(*rx, &m[i], d, next[d] + i);
            if (t_rng_below(&rng, 4) == 0)
                *rx = t_session_reload(*rx);
        }
        next[d] += k;
        free_many(m, k);
    }
    t_bytes_free(&a0), t_bytes_free(&a1);
    t_pair_free(&p);
}
