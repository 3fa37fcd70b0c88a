/* Prekeys: upload, status, and claims under concurrency never hand out a
 * one-time prekey twice. Claimed bundles start real sessions. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <secmsg/session.h>

#include "itest.h"
#include "relay.pb-c.h"

TestSuite(prekeys, .init = it_init_default, .fini = it_fini, .timeout = 180);
TestSuite(prekeys_cfg, .init = it_init_bare, .fini = it_fini, .timeout = 120);

#define N_OTK 100U /* one upload's worth (the default per-upload limit) */
#define N_THREADS 8U
#define CLAIMS_PER_THREAD 40U /* 320 claims for 100 prekeys: all contend */

typedef struct claimer {
    pthread_t th;
    rc_device dev;
    const uint8_t *target;
    const char *url;
    uint32_t otk[CLAIMS_PER_THREAD];
    size_t n_otk;    /* bundles that carried a one-time prekey */
    size_t n_plain;  /* bundles without one */
    size_t n_failed; /* non-200 answers */
    long last_fail;
    pthread_barrier_t *start;
} claimer;

static void *claim_loop(void *arg)
{
    claimer *cl = arg;
    rc_conn c;
    if (rc_conn_init(&c, cl->url) != 0) {
        cl->n_failed = CLAIMS_PER_THREAD;
        pthread_barrier_wait(cl->start);
        return NULL;
    }
    pthread_barrier_wait(cl->start);
    for (size_t i = 0; i < CLAIMS_PER_THREAD; i++) {
        uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
        size_t len = 0;
        uint32_t id = 0;
        long s = rc_claim(&c, &cl->dev, cl->target, bundle, sizeof bundle, &len, &id);
        if (s != 200) {
            cl->n_failed++;
            cl->last_fail = s;
        } else if (id) {
            cl->otk[cl->n_otk++] = id;
        } else {
            cl->n_plain++;
        }
    }
    rc_conn_free(&c);
    return NULL;
}

Test(prekeys, concurrent_claims_hand_out_each_once)
{
    rc_conn c;
    it_conn(&c);
    rc_device owner;
    it_device(&c, &owner, "caseworker");
    uint32_t stored = 0;
    long s = rc_prekeys_publish(&c, &owner, N_OTK, &stored);
    cr_assert_eq(s, 200, "prekey upload: %ld", s);
    cr_assert_eq(stored, N_OTK);

    claimer cl[N_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_THREADS);
    memset(cl, 0, sizeof cl);
    for (size_t i = 0; i < N_THREADS; i++) {
        it_device(&c, &cl[i].dev, "caseworker");
        cl[i].target = owner.device_id;
        cl[i].url = it_relay.url;
        cl[i].start = &start;
    }
    for (size_t i = 0; i < N_THREADS; i++)
        cr_assert_eq(pthread_create(&cl[i].th, NULL, claim_loop, &cl[i]), 0);
    for (size_t i = 0; i < N_THREADS; i++)
        pthread_join(cl[i].th, NULL);
    pthread_barrier_destroy(&start);

    /* Every one-time prekey id at most once; with more claims than prekeys,
     * every one of them exactly once. */
    uint8_t seen[N_OTK + 1];
    memset(seen, 0, sizeof seen);
    size_t total = 0, plain = 0;
    for (size_t i = 0; i < N_THREADS; i++) {
        cr_assert_eq(cl[i].n_failed, 0, "claimer %zu: %zu failures (last %ld)", i, cl[i].n_failed,
                     cl[i].last_fail);
        plain += cl[i].n_plain;
        for (size_t j = 0; j < cl[i].n_otk; j++) {
            uint32_t id = cl[i].otk[j];
            cr_assert(id >= 1 && id <= N_OTK, "claimed id %u was never uploaded", id);
            cr_assert_eq(seen[id], 0, "one-time prekey %u handed out twice", id);
            seen[id] = 1;
            total++;
        }
    }
    cr_assert_eq(total, N_OTK, "%zu one-time prekeys handed out, %u uploaded", total, N_OTK);
    cr_assert_eq(plain, N_THREADS * CLAIMS_PER_THREAD - N_OTK);

    /* The supply is empty; a further claim still gets a bundle, without one. */
    uint32_t left = 99;
    int low = 0;
    cr_assert_eq(rc_prekeys_status(&c, &owner, &left, &low), 200);
    cr_assert_eq(left, 0);
    cr_assert(low, "an empty supply is low");
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t len;
    uint32_t id = 1;
    cr_assert_eq(rc_claim(&c, &cl[0].dev, owner.device_id, bundle, sizeof bundle, &len, &id), 200);
    cr_assert_eq(id, 0);
    for (size_t i = 0; i < N_THREADS; i++)
        rc_device_free(&cl[i].dev);
    rc_device_free(&owner);
    rc_conn_free(&c);
}

/* A claimed bundle starts a session whose first message the owner
 * accepts: the relay hands out the owner's real keys, consumed once. */
Test(prekeys, claimed_bundle_starts_a_session)
{
    rc_conn c;
    it_conn(&c);
    rc_device bob, alice;
    it_device(&c, &bob, "caseworker");
    it_device(&c, &alice, "caseworker");
    cr_assert_eq(rc_prekeys_publish(&c, &bob, 5, NULL), 200);

    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t len = 0;
    uint32_t otk = 0;
    cr_assert_eq(rc_claim(&c, &alice, bob.device_id, bundle, sizeof bundle, &len, &otk), 200);
    cr_assert_neq(otk, 0, "the bundle carries a one-time prekey");
    secmsg_session *as = NULL, *bs = NULL;
    cr_assert_eq(secmsg_session_initiate(&as, alice.id, bundle, len), SECMSG_OK);
    const char *pt = "hello through the relay";
    uint8_t ct[512];
    size_t ct_len = 0;
    cr_assert_eq(
        secmsg_session_encrypt(as, ct, sizeof ct, &ct_len, (const uint8_t *)pt, strlen(pt)),
        SECMSG_OK);

    rc_envelope e = {0};
    rc_random(e.message_id, sizeof e.message_id);
    e.recipients = bob.device_id;
    e.n_recipients = 1;
    e.content = ct;
    e.content_len = ct_len;
    cr_assert_eq(rc_send(&c, &alice, &e, 1, NULL), 200);

    rc_fetched f;
    cr_assert_eq(rc_fetch(&c, &bob, 0, &f), 200);
    cr_assert_eq(f.n, 1);
    cr_assert_eq(memcmp(f.d[0].sender, alice.device_id, 32), 0);
    cr_assert_eq(memcmp(f.d[0].message_id, e.message_id, 16), 0);
    cr_assert(f.has_prekeys, "FetchResponse reports the caller's prekey supply");
    cr_assert_eq(f.prekeys, 4, "one of five claimed");
    uint8_t out[512];
    size_t out_len = 0;
    cr_assert_eq(secmsg_session_accept(&bs, bob.id, bob.prekeys, f.d[0].content, f.d[0].content_len,
                                       out, sizeof out, &out_len),
                 SECMSG_OK);
    cr_assert_eq(out_len, strlen(pt));
    cr_assert_eq(memcmp(out, pt, out_len), 0);
    rc_fetched_free(&f);
    secmsg_session_free(as);
    secmsg_session_free(bs);
    rc_device_free(&bob);
    rc_device_free(&alice);
    rc_conn_free(&c);
}

/* Duplicate prekey ids are 409; an upload over the per-upload limit 413;
 * claiming for a device without prekeys or an unknown device 404. */
Test(prekeys, upload_limits)
{
    rc_conn c;
    it_conn(&c);
    rc_device d, other;
    it_device(&c, &d, "caseworker");
    it_device(&c, &other, "caseworker");
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t len;
    uint32_t id;
    long s = rc_claim(&c, &other, d.device_id, bundle, sizeof bundle, &len, &id);
    it_assert_error(&c, s, 404, "no_prekeys", "claim for a device that uploaded nothing");
    rc_device ghost;
    cr_assert_eq(rc_device_new(&ghost), 0);
    s = rc_claim(&c, &other, ghost.device_id, bundle, sizeof bundle, &len, &id);
    it_assert_error(&c, s, 404, "unknown_device", "claim for an unknown device");
    rc_device_free(&ghost);

    s = rc_prekeys_publish(&c, &d, 101, NULL);
    it_assert_error(&c, s, 413, "too_many_prekeys", "101 one-time prekeys in one upload");
    secmsg_prekeys_free(d.prekeys);
    d.prekeys = NULL;
    cr_assert_eq(rc_prekeys_publish(&c, &d, 10, NULL), 200);
    /* A fresh prekey set numbers its one-time prekeys from 1 again. */
    secmsg_prekeys *orig = d.prekeys;
    d.prekeys = NULL;
    s = rc_prekeys_publish(&c, &d, 3, NULL); /* ids 1..3 again */
    it_assert_error(&c, s, 409, "duplicate_prekey_id", "duplicate one-time prekey ids");
    uint32_t left = 0;
    cr_assert_eq(rc_prekeys_status(&c, &d, &left, NULL), 200);
    cr_assert_eq(left, 10, "the refused upload added nothing");
    secmsg_prekeys_free(d.prekeys);
    d.prekeys = orig;

    /* One-time prekeys with id 0, or a key that is not 32 bytes. */
    uint8_t key[33]; /* room for the 33-byte case */
    rc_random(key, sizeof key);
    key[31] &= 0x7f;
    Secmsg__Relay__OneTimePrekeyPublic otk = SECMSG__RELAY__ONE_TIME_PREKEY_PUBLIC__INIT;
    Secmsg__Relay__OneTimePrekeyPublic *otkp = &otk;
    Secmsg__Relay__PrekeyUpload up = SECMSG__RELAY__PREKEY_UPLOAD__INIT;
    up.n_one_time_prekeys = 1;
    up.one_time_prekeys = &otkp;
    otk.has_id = 1;
    otk.has_pub = 1;
    otk.pub.data = key;
    static const struct {
        uint32_t id;
        size_t len;
        const char *what;
    } bad[] = {{0, 32, "one-time prekey id 0"},
               {500, 31, "a 31-byte one-time prekey"},
               {501, 33, "a 33-byte one-time prekey"}};
    uint8_t buf[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        otk.id = bad[i].id;
        otk.pub.len = bad[i].len;
        size_t n = secmsg__relay__prekey_upload__pack(&up, buf);
        s = rc_call(&c, "PUT", "/v1/prekeys", d.bearer, buf, n);
        it_assert_error(&c, s, 400, "malformed_body", bad[i].what);
    }
    cr_assert_eq(rc_prekeys_status(&c, &d, &left, NULL), 200);
    cr_assert_eq(left, 10, "refused uploads added nothing");
    rc_device_free(&d);
    rc_device_free(&other);
    rc_conn_free(&c);
}

/* Claims hand out the oldest one-time prekey first; `low` below
 * prekeys_low (20); the stored total is capped by prekeys_max. */
Test(prekeys_cfg, order_low_and_cap)
{
    static const char *const flags[] = {"--prekeys-max", "150", NULL};
    it_start(flags);
    rc_conn c;
    it_conn(&c);
    rc_device d, other;
    it_device(&c, &d, "caseworker");
    it_device(&c, &other, "caseworker");
    uint32_t stored = 0;
    cr_assert_eq(rc_prekeys_publish(&c, &d, 21, &stored), 200);
    cr_assert_eq(stored, 21);
    int low = 1;
    cr_assert_eq(rc_prekeys_status(&c, &d, &stored, &low), 200);
    cr_assert_not(low, "21 prekeys are not low");
    for (uint32_t want = 1; want <= 2; want++) {
        uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
        size_t len;
        uint32_t id = 0;
        cr_assert_eq(rc_claim(&c, &other, d.device_id, bundle, sizeof bundle, &len, &id), 200);
        cr_assert_eq(id, want, "claim %u got one-time prekey %u", want, id);
    }
    cr_assert_eq(rc_prekeys_status(&c, &d, &stored, &low), 200);
    cr_assert_eq(stored, 19);
    cr_assert(low, "19 prekeys are low");

    /* 19 + 100 = 119 fits in 150; another 100 does not, and adds nothing. */
    cr_assert_eq(rc_prekeys_publish(&c, &d, 100, &stored), 200);
    cr_assert_eq(stored, 119);
    long s = rc_prekeys_publish(&c, &d, 100, NULL);
    it_assert_error(&c, s, 413, "too_many_prekeys", "past prekeys_max");
    cr_assert_eq(rc_prekeys_status(&c, &d, &stored, NULL), 200);
    cr_assert_eq(stored, 119, "the refused upload added nothing");
    rc_device_free(&d);
    rc_device_free(&other);
    rc_conn_free(&c);
}
