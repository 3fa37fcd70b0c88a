/* Writes the session vectors to stdout: gen-vectors > spec/vectors/session-v1.json */
#include <secmsg.h>
#include <stdio.h>

#include "vectors.h"

int main(void)
{
    vectors_rng_install(VECTORS_RNG_SEED);
    if (secmsg_init() != SECMSG_OK)
        return 1;
    json_t *v = vectors_build();
    if (v == NULL) {
        fprintf(stderr, "gen-vectors: building the vectors failed\n");
        return 1;
    }
    int rc = json_dumpf(v, stdout, VECTORS_JSON_FLAGS);
    putchar('\n');
    json_decref(v);
    return rc == 0 ? 0 : 1;
}
