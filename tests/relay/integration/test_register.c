/* Registration with enrollment tokens: valid, used, expired and forged
 * tokens, forged signatures and identities (spec/relay-api.md). */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "itest.h"

TestSuite(register, .init = it_init_default, .fini = it_fini, .timeout = 120);

static void admin_token(const char *role, const char *user, long ttl, uint8_t token[32])
{
    int rc = rc_admin_token(&it_relay, role, user, ttl, token);
    cr_assert_eq(rc, 0, "secmsg-relay admin token --role %s", role);
}

/* A valid token registers the device under the token's role and user id,
 * and the device can then authenticate. */
Test(register, valid_token)
{
    rc_conn c;
    it_conn(&c);
    uint8_t token[32];
    static const struct {
        const char *name;
        uint32_t role;
    } roles[] = {{"caseworker", 2}, {"journal", 3}};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        rc_device d;
        char user[64];
        it_user_id(user, sizeof user, roles[i].name);
        admin_token(roles[i].name, user, 0, token);
        cr_assert_eq(rc_device_new(&d), 0);
        long s = rc_register(&c, &d, token);
        cr_assert_eq(s, 200, "register %s: %ld", roles[i].name, s);
        cr_assert_str_eq(d.user_id, user);
        cr_assert_eq(d.role, roles[i].role, "role of a %s token", roles[i].name);
        s = rc_auth(&c, &d);
        cr_assert_eq(s, 200, "auth after registration: %ld", s);
        rc_device_free(&d);
    }
    rc_conn_free(&c);
}

/* A caseworker's invite is a citizen token. */
Test(register, invite_token)
{
    rc_conn c;
    it_conn(&c);
    rc_device cw, citizen;
    it_device(&c, &cw, "caseworker");
    uint8_t token[32];
    long s = rc_invite(&c, &cw, "citizen-1", 600, token);
    cr_assert_eq(s, 200, "invite: %ld", s);
    cr_assert_eq(rc_device_new(&citizen), 0);
    s = rc_register(&c, &citizen, token);
    cr_assert_eq(s, 200, "register with an invite: %ld", s);
    cr_assert_str_eq(citizen.user_id, "citizen-1");
    cr_assert_eq(citizen.role, 1);
    cr_assert_eq(rc_auth(&c, &citizen), 200);

    /* A citizen cannot invite. */
    s = rc_invite(&c, &citizen, "citizen-2", 600, token);
    it_assert_error(&c, s, 403, NULL, "invite by a citizen");
    rc_device_free(&cw);
    rc_device_free(&citizen);
    rc_conn_free(&c);
}

/* A token works once: a second device with it gets 409, and so does the
 * same device again with a fresh token (device exists). */
Test(register, used_token)
{
    rc_conn c;
    it_conn(&c);
    uint8_t token[32], token2[32];
    admin_token("caseworker", "cw-used", 0, token);
    rc_device a, b;
    cr_assert_eq(rc_device_new(&a), 0);
    cr_assert_eq(rc_device_new(&b), 0);
    cr_assert_eq(rc_register(&c, &a, token), 200);
    long s = rc_register(&c, &b, token);
    it_assert_error(&c, s, 409, "token_used", "second registration with one token");
    s = rc_register(&c, &a, token);
    it_assert_error(&c, s, 409, NULL, "same device, same token again");

    admin_token("caseworker", "cw-used-2", 0, token2);
    s = rc_register(&c, &a, token2);
    it_assert_error(&c, s, 409, "device_exists", "registered device with a fresh token");
    /* That refusal did not burn the fresh token. */
    cr_assert_eq(rc_register(&c, &b, token2), 200);
    rc_device_free(&a);
    rc_device_free(&b);
    rc_conn_free(&c);
}

/* A token past its expiry gets 409. Admin tokens live at least 60 s, so
 * this uses an invite, whose lifetime the caseworker chooses (1 s). */
Test(register, expired_token)
{
    rc_conn c;
    it_conn(&c);
    rc_device cw;
    it_device(&c, &cw, "caseworker");
    uint8_t token[32];
    time_t issued = time(NULL);
    long s = rc_invite(&c, &cw, "citizen-expired", 1, token);
    cr_assert_eq(s, 200, "invite with a 1 s lifetime: %ld", s);
    /* Wall clock seconds: wait (bounded) until issued + 1 has surely passed. */
    double end = rc_now() + 10.0;
    while (time(NULL) < issued + 3 && rc_now() < end)
        rc_sleep(0.1);
    rc_device d;
    cr_assert_eq(rc_device_new(&d), 0);
    s = rc_register(&c, &d, token);
    it_assert_error(&c, s, 409, "token_used", "registration with an expired invite");

    /* An admin token with a 1 s lifetime (--ttl 1), likewise. */
    issued = time(NULL);
    int rc = rc_admin_token(&it_relay, "caseworker", "cw-expired", 1, token);
    cr_assert_eq(rc, 0, "admin token --ttl 1");
    end = rc_now() + 10.0;
    while (time(NULL) < issued + 3 && rc_now() < end)
        rc_sleep(0.1);
    s = rc_register(&c, &d, token);
    it_assert_error(&c, s, 409, "token_used", "registration with an expired admin token");
    rc_device_free(&d);
    rc_device_free(&cw);
    rc_conn_free(&c);
}

/* A random token (correctly signed) is a forged credential. */
Test(register, forged_random_token)
{
    rc_conn c;
    it_conn(&c);
    uint8_t token[32];
    rc_random(token, sizeof token);
    rc_device d;
    cr_assert_eq(rc_device_new(&d), 0);
    long s = rc_register(&c, &d, token);
    it_assert_error(&c, s, 401, "unknown_token", "registration with a random token");
    it_assert_healthy();
    rc_device_free(&d);
    rc_conn_free(&c);
}

/* A valid token with a signature that does not verify: 401, and the token
 * is not consumed by the failed attempt. */
Test(register, valid_token_bad_signature)
{
    rc_conn c;
    it_conn(&c);
    uint8_t token[32], sig[64];
    admin_token("caseworker", "cw-badsig", 0, token);
    rc_device d, other;
    cr_assert_eq(rc_device_new(&d), 0);
    cr_assert_eq(rc_device_new(&other), 0);

    /* One bit flipped. */
    rc_register_sig(&d, token, sizeof token, sig);
    sig[10] ^= 0x01;
    long s = rc_register_raw(&c, token, sizeof token, d.pub, d.pub_len, sig, sizeof sig);
    it_assert_error(&c, s, 401, "bad_signature", "registration with a flipped signature bit");

    /* Signed by another identity's key. */
    rc_register_sig(&other, token, sizeof token, sig);
    s = rc_register_raw(&c, token, sizeof token, d.pub, d.pub_len, sig, sizeof sig);
    it_assert_error(&c, s, 401, "bad_signature", "registration signed by another key");

    /* Signed over another token. */
    uint8_t token2[32];
    memcpy(token2, token, sizeof token2);
    token2[0] ^= 0x80;
    rc_register_sig(&d, token2, sizeof token2, sig);
    s = rc_register_raw(&c, token, sizeof token, d.pub, d.pub_len, sig, sizeof sig);
    it_assert_error(&c, s, 401, "bad_signature", "registration signature over another token");

    /* Still usable with the right signature. */
    s = rc_register(&c, &d, token);
    cr_assert_eq(s, 200, "the token after failed attempts: %ld", s);
    rc_device_free(&d);
    rc_device_free(&other);
    rc_conn_free(&c);
}

/* An identity whose X25519 key is not certified by its signing key is
 * 400 bad_identity, whatever the registration signature. */
Test(register, uncertified_identity)
{
    rc_conn c;
    it_conn(&c);
    uint8_t token[32], sig[64];
    admin_token("caseworker", "cw-uncert", 0, token);
    rc_device d;
    cr_assert_eq(rc_device_new(&d), 0);
    /* The last bytes of the identity public are dh_sig: corrupt one. */
    d.pub[d.pub_len - 1] ^= 0x01;
    cr_assert_neq(secmsg_identity_public_verify(d.pub, d.pub_len), SECMSG_OK);
    rc_register_sig(&d, token, sizeof token, sig);
    long s = rc_register_raw(&c, token, sizeof token, d.pub, d.pub_len, sig, sizeof sig);
    it_assert_error(&c, s, 400, "bad_identity", "uncertified identity");
    /* The token survives. */
    d.pub[d.pub_len - 1] ^= 0x01;
    cr_assert_eq(rc_register(&c, &d, token), 200);
    rc_device_free(&d);
    rc_conn_free(&c);
}

/* Missing fields and wrong lengths are 400. */
Test(register, malformed_requests)
{
    rc_conn c;
    it_conn(&c);
    uint8_t token[32], sig[64];
    admin_token("caseworker", "cw-malformed", 0, token);
    rc_device d;
    cr_assert_eq(rc_device_new(&d), 0);
    rc_register_sig(&d, token, sizeof token, sig);
    long s = rc_register_raw(&c, NULL, 0, d.pub, d.pub_len, sig, sizeof sig);
    it_assert_error(&c, s, 400, "malformed_body", "registration without a token");
    s = rc_register_raw(&c, token, sizeof token, NULL, 0, sig, sizeof sig);
    it_assert_error(&c, s, 400, NULL, "registration without an identity");
    s = rc_register_raw(&c, token, sizeof token, d.pub, d.pub_len, NULL, 0);
    it_assert_error(&c, s, 400, "malformed_body", "registration without a signature");
    s = rc_register_raw(&c, token, 31, d.pub, d.pub_len, sig, sizeof sig);
    it_assert_error(&c, s, 400, "malformed_body", "registration with a 31-byte token");
    s = rc_register_raw(&c, token, sizeof token, d.pub, d.pub_len, sig, 63);
    it_assert_error(&c, s, 400, "malformed_body", "registration with a 63-byte signature");
    cr_assert_eq(rc_register(&c, &d, token), 200, "the token after malformed attempts");
    rc_device_free(&d);
    rc_conn_free(&c);
}

/* `admin token` refuses a citizen role (usage, exit 2), a bad user id
 * (exit 2), and a user id whose devices have another role (exit 1). */
Test(register, admin_token_refusals)
{
    rc_conn c;
    it_conn(&c);
    rc_device cw;
    it_device(&c, &cw, "caseworker");
    static const struct {
        const char *role, *user;
        int status;
    } cases[] = {
        {"citizen", "someone", 2},
        {"caseworker", "no spaces", 2},
        {"caseworker", "..", 2},
        {"journal", NULL, 1}, /* NULL: the caseworker's user id */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *user = cases[i].user ? cases[i].user : cw.user_id;
        const char *argv[] = {it_relay.bin,  "admin",      "token",      "--db",
                              it_relay.db,   "--key-file", it_relay.key, "--role",
                              cases[i].role, "--user",     user,         NULL};
        char out[256];
        int st = rc_run(it_relay.dir, argv, 60.0, out, sizeof out, NULL, 0);
        cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == cases[i].status,
                  "admin token --role %s --user \"%s\": status %d, expected exit %d", cases[i].role,
                  user, st, cases[i].status);
        cr_assert_str_eq(out, "", "nothing on stdout when refused");
    }
    rc_device_free(&cw);
    rc_conn_free(&c);
}
