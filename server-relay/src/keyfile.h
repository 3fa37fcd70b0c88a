/*
 * The database key file: 64 hexadecimal characters (32 bytes) and a newline,
 * mode 0600, owned by the relay's user. A file that others could read is
 * refused rather than used; a missing file is created with a fresh random
 * key (O_EXCL, fsynced with its directory).
 */
#ifndef SECMSG_RELAYD_KEYFILE_H
#define SECMSG_RELAYD_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define RELAYD_DB_KEY_BYTES 32U

/**
 * Reads the key at path into key (caller-provided, ideally sodium_malloc'd),
 * creating the file first if it does not exist and create is set.
 * *created says whether it was. Returns 0, or -1 with a sentence in err.
 */
int relayd_keyfile_load(uint8_t key[RELAYD_DB_KEY_BYTES], const char *path, int create,
                        int *created, char *err, size_t errlen);

/** The bearer-token MAC key: BLAKE2b-256(key = db key, "secmsg relay token key v1"). */
void relayd_token_key_derive(uint8_t out[32], const uint8_t db_key[RELAYD_DB_KEY_BYTES]);

struct relayd_config;

/**
 * Loads (or creates) cfg->key_file and opens the store at cfg->db with
 * it. If token_key is not NULL it gets the derived bearer-token key. The
 * database key is wiped before returning. 0, or -1 with a sentence in err.
 */
int relayd_store_open_with_keyfile(const struct relayd_config *cfg, relay_store **st,
                                   uint8_t *token_key, char *err, size_t errlen);

#endif
