/*
 * Two parties, one process: a caseworker publishes prekeys, a citizen
 * starts a session from the caseworker's bundle, and they exchange a few
 * messages both ways. Uses only the public API (secmsg.h).
 */
#include <secmsg.h>
#include <stdio.h>
#include <string.h>

#define CHECK(call)                                                                            \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != SECMSG_OK) {                                                                \
            fprintf(stderr, "%s failed: %s\n", #call, secmsg_strerror(rc_));                   \
            return 1;                                                                          \
        }                                                                                      \
    } while (0)

/* Encrypts `text` on `from` and decrypts it on `to`, printing what arrived. */
static int send_text(secmsg_session *from, secmsg_session *to, const char *who, const char *text)
{
    uint8_t wire[1024], plain[1024];
    size_t wire_len, plain_len;
    CHECK(secmsg_session_encrypt(from, wire, sizeof wire, &wire_len, (const uint8_t *)text,
                                 strlen(text)));
    CHECK(secmsg_session_decrypt(to, plain, sizeof plain, &plain_len, wire, wire_len));
    printf("%-10s -> %.*s   (%zu bytes on the wire)\n", who, (int)plain_len, (const char *)plain,
           wire_len);
    return 0;
}

int main(void)
{
    CHECK(secmsg_init());

    secmsg_identity *caseworker = NULL, *citizen = NULL;
    secmsg_prekeys *prekeys = NULL;
    CHECK(secmsg_identity_generate(&caseworker));
    CHECK(secmsg_identity_generate(&citizen));
    CHECK(secmsg_prekeys_new(&prekeys, caseworker, 1));
    uint32_t first_id;
    CHECK(secmsg_prekeys_generate(prekeys, 10, &first_id));

    /* The relay would hand this bundle to the citizen. */
    uint8_t bundle[SECMSG_PREKEY_BUNDLE_MAX_BYTES];
    size_t bundle_len;
    CHECK(secmsg_prekeys_bundle(prekeys, caseworker, first_id, bundle, sizeof bundle, &bundle_len));

    secmsg_session *cit = NULL, *cw = NULL;
    CHECK(secmsg_session_initiate(&cit, citizen, bundle, bundle_len));

    /* The citizen's first message is an initial message that creates the caseworker's session. */
    const char *hello = "Hello, I got the letter about my appointment.";
    uint8_t wire[1024], plain[1024];
    size_t wire_len, plain_len;
    CHECK(secmsg_session_encrypt(cit, wire, sizeof wire, &wire_len, (const uint8_t *)hello,
                                 strlen(hello)));
    CHECK(secmsg_session_accept(&cw, caseworker, prekeys, wire, wire_len, plain, sizeof plain,
                                &plain_len));
    printf("%-10s -> %.*s   (initial message, %zu bytes)\n", "citizen", (int)plain_len,
           (const char *)plain, wire_len);

    if (send_text(cw, cit, "caseworker", "Good. See you Tuesday 10:00, room 2.14.") ||
        send_text(cit, cw, "citizen", "Thanks, I will be there.") ||
        send_text(cit, cw, "citizen", "Should I bring my CV?") ||
        send_text(cw, cit, "caseworker", "Yes please, and your ID."))
        return 1;

    uint8_t pub_cw[SECMSG_IDENTITY_PUBLIC_BYTES], pub_cit[SECMSG_IDENTITY_PUBLIC_BYTES];
    size_t n1, n2;
    char safety[SECMSG_SAFETY_NUMBER_BYTES];
    CHECK(secmsg_identity_public(caseworker, pub_cw, sizeof pub_cw, &n1));
    CHECK(secmsg_identity_public(citizen, pub_cit, sizeof pub_cit, &n2));
    CHECK(secmsg_safety_number(safety, pub_cw, n1, pub_cit, n2));
    printf("safety number: ");
    for (int i = 0; i < 60; i += 5)
        printf("%.5s%s", safety + i, i < 55 ? " " : "\n");
    printf("session state: citizen %zu bytes, caseworker %zu bytes\n",
           secmsg_session_serialized_len(cit), secmsg_session_serialized_len(cw));

    secmsg_session_free(cit);
    secmsg_session_free(cw);
    secmsg_prekeys_free(prekeys);
    secmsg_identity_free(citizen);
    secmsg_identity_free(caseworker);
    return 0;
}
