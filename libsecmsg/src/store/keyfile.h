/*
 * Internal: the store's key file (`path`.keys), spec/client-store.md §2.
 *
 * The format is fixed-size binary (SECMSG__KEYFILE_BYTES, little-endian):
 *
 *   off  len  field
 *     0    4  magic "SMKF"
 *     4    1  version (1)
 *     5    1  flags: LOCKED 0x01, WIPE 0x02, PLATFORM 0x04, WIPED 0x08
 *     6    2  length of the whole file (216)
 *     8    4  failures        (wrong PINs / platform keys counted so far)
 *    12    4  max_failures    (1..100)
 *    16    4  kdf_ops         (Argon2id passes, 1..10)
 *    20    4  kdf_mem_kib     (Argon2id memory, 8192..1048576 KiB)
 *    24   16  salt            (Argon2id)
 *    40   24  pin_nonce       \ XChaCha20-Poly1305 of the 32-byte database
 *    64   48  pin_wrap        / key under KEK_pin
 *   112   24  plat_nonce      \ the same under KEK_plat; all zero unless
 *   136   48  plat_wrap       / PLATFORM
 *   184   32  mac             BLAKE2b-256 keyed with K_mac over bytes 0..183
 *
 * secmsg__keyfile_parse() is the only place key-file bytes are read. It
 * does no I/O and no crypto: it checks the shape (size, magic, version,
 * length, flags, bounds, zero fields) and nothing else; the MAC is checked
 * by secmsg__keyfile_verify() before any field is trusted.
 */
#ifndef SECMSG_STORE_KEYFILE_H
#define SECMSG_STORE_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define SECMSG__KEYFILE_VERSION 1U
#define SECMSG__KEYFILE_BYTES 216U
/* Reads stop here: a file longer than this is refused unread. */
#define SECMSG__KEYFILE_READ_MAX 1024U

#define SECMSG__KEYFILE_LOCKED 0x01U   /* no more unlocks */
#define SECMSG__KEYFILE_WIPE 0x02U     /* policy: wipe when the limit is reached */
#define SECMSG__KEYFILE_PLATFORM 0x04U /* plat_nonce/plat_wrap hold a wrap */
#define SECMSG__KEYFILE_WIPED 0x08U    /* wraps erased; the files are being removed */

#define SECMSG__KDF_OPS_MIN 1U
#define SECMSG__KDF_OPS_MAX 10U
#define SECMSG__KDF_MEM_KIB_MIN (8U * 1024U)
#define SECMSG__KDF_MEM_KIB_MAX (1024U * 1024U)
#define SECMSG__PIN_MAX_FAILURES_MAX 100U

#define SECMSG__KEYFILE_SALT_BYTES 16U
#define SECMSG__KEYFILE_NONCE_BYTES 24U
#define SECMSG__KEYFILE_WRAP_BYTES 48U /* 32-byte key + 16-byte tag */
#define SECMSG__KEYFILE_MAC_BYTES 32U
#define SECMSG__DB_KEY_BYTES 32U

/* Which wrap of the database key. */
typedef enum secmsg__keyfile_kind {
    SECMSG__WRAP_PIN = 1,
    SECMSG__WRAP_PLATFORM = 2
} secmsg__keyfile_kind;

typedef struct secmsg__keyfile {
    uint8_t flags;
    uint32_t failures;
    uint32_t max_failures;
    uint32_t kdf_ops;
    uint32_t kdf_mem_kib;
    uint8_t salt[SECMSG__KEYFILE_SALT_BYTES];
    uint8_t pin_nonce[SECMSG__KEYFILE_NONCE_BYTES];
    uint8_t pin_wrap[SECMSG__KEYFILE_WRAP_BYTES];
    uint8_t plat_nonce[SECMSG__KEYFILE_NONCE_BYTES];
    uint8_t plat_wrap[SECMSG__KEYFILE_WRAP_BYTES];
    uint8_t mac[SECMSG__KEYFILE_MAC_BYTES];
} secmsg__keyfile;

/* ---- format (no I/O) ------------------------------------------------------ */

/*
 * Parses exactly one key file. SECMSG_OK, SECMSG_E_VERSION (a version
 * above 1: written by a newer library) or SECMSG_E_MALFORMED (anything
 * else that is not a well-formed version-1 file). *out is zeroed on error.
 * A parsed file re-encodes to the same bytes.
 */
int secmsg__keyfile_parse(secmsg__keyfile *out, const uint8_t *in, size_t len);
/* Encodes kf (its mac field as it is). kf must satisfy the parse checks. */
void secmsg__keyfile_encode(uint8_t out[SECMSG__KEYFILE_BYTES], const secmsg__keyfile *kf);
/* Sets kf->mac for the current fields. */
void secmsg__keyfile_seal(secmsg__keyfile *kf, const uint8_t kmac[32]);
/* SECMSG_OK if kf->mac is right for K_mac (constant time), else TAMPERED. */
int secmsg__keyfile_verify(const secmsg__keyfile *kf, const uint8_t kmac[32]);

/* ---- keys ----------------------------------------------------------------- */

/* K_mac = BLAKE2b-256(key = device secret, "secmsg keyfile mac v1"). */
void secmsg__keyfile_mac_key(uint8_t kmac[32], const uint8_t *secret, size_t secret_len);
/*
 * KEK_pin = BLAKE2b-256(key = Argon2id(pin, salt, ops, mem), "secmsg pin kek
 * v1" || device secret), with kf's salt and cost. SECMSG_E_NOMEM if Argon2id
 * cannot get its memory.
 */
int secmsg__keyfile_kek_pin(uint8_t kek[32], const secmsg__keyfile *kf, const char *pin,
                            size_t pin_len, const uint8_t *secret, size_t secret_len);
/* KEK_plat = BLAKE2b-256(key = platform key, "secmsg platform kek v1" ||
 * BLAKE2b-256(key = device secret, "secmsg platform secret v1")). */
void secmsg__keyfile_kek_platform(uint8_t kek[32], const uint8_t key[32], const uint8_t *secret,
                                  size_t secret_len);
/* Wraps the database key into the kind's fields under a fresh random nonce. */
void secmsg__keyfile_wrap(secmsg__keyfile *kf, secmsg__keyfile_kind kind, const uint8_t kek[32],
                          const uint8_t dbkey[SECMSG__DB_KEY_BYTES]);
/* SECMSG_OK and the key, or SECMSG_E_DECRYPT (dbkey zeroed). */
int secmsg__keyfile_unwrap(uint8_t dbkey[SECMSG__DB_KEY_BYTES], const secmsg__keyfile *kf,
                           secmsg__keyfile_kind kind, const uint8_t kek[32]);

/* ---- files ---------------------------------------------------------------- */

/*
 * Creates `keys_path` (0600, O_EXCL) holding kf (sealed by the caller) and
 * makes it durable. SECMSG_E_EXISTS, SECMSG_E_STORE.
 */
int secmsg__keyfile_create(const char *keys_path, const secmsg__keyfile *kf);

/*
 * The unlock (spec §3): with the key file locked against other processes,
 * checks it (NOT_FOUND, PERMISSION, TAMPERED, VERSION, LOCKED), checks the
 * database file (NOT_FOUND, PERMISSION), counts the attempt durably, then
 * tries the credential (a PIN, or a 32-byte platform key). On success the
 * counter is reset and dbkey holds the database key. Wrong: WRONG_PIN with
 * *left attempts left, or LOCKED (wiped if the policy says so). *left is
 * set whenever it is not NULL (0 unless OK or WRONG_PIN).
 */
int secmsg__keyfile_unlock(uint8_t dbkey[SECMSG__DB_KEY_BYTES], const char *db_path,
                           const char *keys_path, const uint8_t *secret, size_t secret_len,
                           secmsg__keyfile_kind kind, const uint8_t *cred, size_t cred_len,
                           uint32_t *left);

/*
 * Read-modify-write of the key file by an open store: locks, reads and
 * verifies it (LOCKED if it was locked meanwhile), calls edit, seals and
 * writes the result durably. An edit returning non-zero aborts with that.
 */
typedef int (*secmsg__keyfile_edit_fn)(secmsg__keyfile *kf, void *ctx);
int secmsg__keyfile_update(const char *keys_path, const uint8_t *secret, size_t secret_len,
                           secmsg__keyfile_edit_fn edit, void *ctx);

/* Removes the database file and its -wal/-shm/-journal companions. */
void secmsg__store_unlink_db(const char *db_path);

#endif
