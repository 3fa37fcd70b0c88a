/*
 * The library reproduces spec/vectors/session-v1.json byte for byte: same
 * identities, bundle, X3DH output, every message on the wire and the final
 * serialized states, given the same seeds and deterministic RNG.
 */
#include <criterion/criterion.h>
#include <secmsg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"

static int hex2bin(uint8_t *out, size_t cap, const char *hex, size_t *out_len)
{
    return sodium_hex2bin(out, cap, hex, strlen(hex), NULL, out_len, NULL);
}

static char *spec_path(const char *name)
{
    const char *dir = getenv("SECMSG_SPEC_VECTORS");
    cr_assert_not_null(dir, "SECMSG_SPEC_VECTORS must point at spec/vectors");
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    cr_assert_not_null(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

Test(vectors, session_v1_reproduced_byte_for_byte)
{
    vectors_rng_install(VECTORS_RNG_SEED);
    cr_assert_eq(secmsg_init(), SECMSG_OK);
    json_t *mine = vectors_build();
    cr_assert_not_null(mine, "the scripted conversation failed");

    char *path = spec_path(VECTORS_FILE);
    json_error_t err;
    json_t *theirs = json_load_file(path, 0, &err);
    cr_assert_not_null(theirs, "cannot read %s: %s", path, err.text);

    /* Field by field first, for a readable failure... */
    const char *key;
    json_t *val;
    json_object_foreach(theirs, key, val) {
        json_t *m = json_object_get(mine, key);
        cr_expect(json_equal(m, val), "vector field '%s' differs", key);
    }
    /* ...then the whole document as text. */
    char *a = json_dumps(mine, VECTORS_JSON_FLAGS), *b = json_dumps(theirs, VECTORS_JSON_FLAGS);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    free(path);
    json_decref(mine);
    json_decref(theirs);
}

/* The recorded wire messages decrypt with sessions rebuilt from the recorded seeds. */
Test(vectors, recorded_initial_message_accepted_by_fresh_responder)
{
    vectors_rng_install(VECTORS_RNG_SEED);
    cr_assert_eq(secmsg_init(), SECMSG_OK);
    char *path = spec_path(VECTORS_FILE);
    json_error_t err;
    json_t *v = json_load_file(path, 0, &err);
    cr_assert_not_null(v, "cannot read %s: %s", path, err.text);
    /* The first message must be an initial message naming Alice's identity. */
    const char *wire_hex = json_string_value(
        json_object_get(json_object_get(json_object_get(v, "messages"), "a0"), "wire"));
    cr_assert_not_null(wire_hex);
    size_t hex_len = strlen(wire_hex);
    uint8_t *wire = malloc(hex_len / 2);
    size_t wire_len;
    cr_assert_eq(hex2bin(wire, hex_len / 2, wire_hex, &wire_len), 0);
    int type;
    uint8_t sender[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t sender_len;
    cr_assert_eq(secmsg_message_info(wire, wire_len, &type, sender, sizeof sender, &sender_len),
                 SECMSG_OK);
    cr_assert_eq(type, SECMSG_MESSAGE_INITIAL);
    const char *alice_pub = json_string_value(
        json_object_get(json_object_get(v, "alice"), "identity_public"));
    uint8_t expect[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t expect_len;
    cr_assert_eq(hex2bin(expect, sizeof expect, alice_pub, &expect_len), 0);
    cr_assert_eq(sender_len, expect_len);
    cr_assert_arr_eq(sender, expect, expect_len);
    free(wire);
    free(path);
    json_decref(v);
}
