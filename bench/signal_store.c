/*
 * signal_store.c - minimal in-memory stores for libsignal-protocol-c.
 *
 * Small unsorted arrays: a benchmark party has one peer, one signed prekey
 * and a handful of one-time prekeys at any time, so linear search is both
 * the simplest and the fastest structure here.
 */
#include "signal_support.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A record stored under a remote address (sessions, trusted identities). */
typedef struct addr_entry {
    char *name;
    size_t name_len;
    int32_t device_id;
    signal_buffer *data;
} addr_entry;

typedef struct addr_table {
    addr_entry *v;
    size_t n, cap;
} addr_table;

/* A record stored under a numeric id (prekeys, signed prekeys). */
typedef struct id_entry {
    uint32_t id;
    signal_buffer *data;
} id_entry;

typedef struct id_table {
    id_entry *v;
    size_t n, cap;
} id_table;

struct sig_store {
    addr_table sessions;
    addr_table identities; /* trusted remote identity keys (TOFU) */
    id_table prekeys;
    id_table signed_prekeys;
    signal_buffer *id_pub, *id_priv;
    uint32_t reg_id;
};

/* ---- tables ---- */

static bool name_eq(const addr_entry *e, const char *name, size_t name_len)
{
    return e->name_len == name_len && memcmp(e->name, name, name_len) == 0;
}

static addr_entry *addr_find(addr_table *t, const signal_protocol_address *a)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].device_id == a->device_id && name_eq(&t->v[i], a->name, a->name_len))
            return &t->v[i];
    }
    return NULL;
}

static void addr_remove_at(addr_table *t, size_t i)
{
    free(t->v[i].name);
    signal_buffer_bzero_free(t->v[i].data);
    t->v[i] = t->v[--t->n];
}

static void addr_clear(addr_table *t)
{
    while (t->n > 0)
        addr_remove_at(t, t->n - 1);
}

/* Stores a copy of data under a; replaces an existing record. */
static int addr_put(addr_table *t, const signal_protocol_address *a, const uint8_t *data,
                    size_t len)
{
    signal_buffer *b = signal_buffer_create(data, len);
    if (b == NULL)
        return SG_ERR_NOMEM;
    addr_entry *e = addr_find(t, a);
    if (e != NULL) {
        signal_buffer_bzero_free(e->data);
        e->data = b;
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 4;
        addr_entry *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            goto nomem;
        t->v = v;
        t->cap = cap;
    }
    e = &t->v[t->n];
    e->name = malloc(a->name_len ? a->name_len : 1);
    if (e->name == NULL)
        goto nomem;
    memcpy(e->name, a->name, a->name_len);
    e->name_len = a->name_len;
    e->device_id = a->device_id;
    e->data = b;
    t->n++;
    return 0;
nomem:
    signal_buffer_bzero_free(b);
    return SG_ERR_NOMEM;
}

static id_entry *id_find(id_table *t, uint32_t id, size_t *index)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].id == id) {
            if (index != NULL)
                *index = i;
            return &t->v[i];
        }
    }
    return NULL;
}

static int id_put(id_table *t, uint32_t id, const uint8_t *data, size_t len)
{
    signal_buffer *b = signal_buffer_create(data, len);
    if (b == NULL)
        return SG_ERR_NOMEM;
    id_entry *e = id_find(t, id, NULL);
    if (e != NULL) {
        signal_buffer_bzero_free(e->data);
        e->data = b;
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        id_entry *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL) {
            signal_buffer_bzero_free(b);
            return SG_ERR_NOMEM;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n].id = id;
    t->v[t->n].data = b;
    t->n++;
    return 0;
}

static int id_load(id_table *t, uint32_t id, signal_buffer **record)
{
    id_entry *e = id_find(t, id, NULL);
    if (e == NULL)
        return SG_ERR_INVALID_KEY_ID;
    *record = signal_buffer_copy(e->data);
    return *record != NULL ? SG_SUCCESS : SG_ERR_NOMEM;
}

static int id_remove(id_table *t, uint32_t id)
{
    size_t i;
    if (id_find(t, id, &i) != NULL) {
        signal_buffer_bzero_free(t->v[i].data);
        t->v[i] = t->v[--t->n];
    }
    return 0;
}

static void id_clear(id_table *t)
{
    while (t->n > 0)
        id_remove(t, t->v[t->n - 1].id);
}

/* ---- session store ---- */

static int s_load(signal_buffer **record, signal_buffer **user_record,
                  const signal_protocol_address *address, void *user_data)
{
    sig_store *s = user_data;
    (void)user_record;
    addr_entry *e = addr_find(&s->sessions, address);
    if (e == NULL)
        return 0;
    *record = signal_buffer_copy(e->data);
    return *record != NULL ? 1 : SG_ERR_NOMEM;
}

static int s_sub_devices(signal_int_list **sessions, const char *name, size_t name_len,
                         void *user_data)
{
    sig_store *s = user_data;
    signal_int_list *l = signal_int_list_alloc();
    if (l == NULL)
        return SG_ERR_NOMEM;
    for (size_t i = 0; i < s->sessions.n; i++) {
        const addr_entry *e = &s->sessions.v[i];
        /* Device 1 is the peer's primary device, not a sub-device. */
        if (e->device_id != 1 && name_eq(e, name, name_len) &&
            signal_int_list_push_back(l, e->device_id) < 0) {
            signal_int_list_free(l);
            return SG_ERR_NOMEM;
        }
    }
    *sessions = l;
    return (int)signal_int_list_size(l);
}

static int s_store(const signal_protocol_address *address, uint8_t *record, size_t record_len,
                   uint8_t *user_record, size_t user_record_len, void *user_data)
{
    sig_store *s = user_data;
    (void)user_record;
    (void)user_record_len;
    return addr_put(&s->sessions, address, record, record_len);
}

static int s_contains(const signal_protocol_address *address, void *user_data)
{
    sig_store *s = user_data;
    return addr_find(&s->sessions, address) != NULL;
}

static int s_delete(const signal_protocol_address *address, void *user_data)
{
    sig_store *s = user_data;
    addr_entry *e = addr_find(&s->sessions, address);
    if (e == NULL)
        return 0;
    addr_remove_at(&s->sessions, (size_t)(e - s->sessions.v));
    return 1;
}

static int s_delete_all(const char *name, size_t name_len, void *user_data)
{
    sig_store *s = user_data;
    int deleted = 0;
    for (size_t i = s->sessions.n; i-- > 0;) {
        if (name_eq(&s->sessions.v[i], name, name_len)) {
            addr_remove_at(&s->sessions, i);
            deleted++;
        }
    }
    return deleted;
}

/*
 * ---- pre-key and signed pre-key stores ----
 * Both have the same callbacks; their user_data is the store's id_table.
 */

static int k_load(signal_buffer **record, uint32_t id, void *user_data)
{
    return id_load(user_data, id, record);
}

static int k_store(uint32_t id, uint8_t *record, size_t len, void *user_data)
{
    return id_put(user_data, id, record, len);
}

static int k_contains(uint32_t id, void *user_data)
{
    return id_find(user_data, id, NULL) != NULL;
}

static int k_remove(uint32_t id, void *user_data)
{
    return id_remove(user_data, id);
}

/* ---- identity store ---- */

static int ik_pair(signal_buffer **public_data, signal_buffer **private_data, void *user_data)
{
    sig_store *s = user_data;
    if (s->id_pub == NULL || s->id_priv == NULL)
        return SG_ERR_INVAL;
    *public_data = signal_buffer_copy(s->id_pub);
    *private_data = signal_buffer_copy(s->id_priv);
    if (*public_data == NULL || *private_data == NULL) {
        signal_buffer_free(*public_data);
        signal_buffer_bzero_free(*private_data);
        *public_data = *private_data = NULL;
        return SG_ERR_NOMEM;
    }
    return 0;
}

static int ik_reg_id(void *user_data, uint32_t *registration_id)
{
    *registration_id = ((sig_store *)user_data)->reg_id;
    return 0;
}

static int ik_save(const signal_protocol_address *address, uint8_t *key_data, size_t key_len,
                   void *user_data)
{
    sig_store *s = user_data;
    if (key_data == NULL) {
        addr_entry *e = addr_find(&s->identities, address);
        if (e != NULL)
            addr_remove_at(&s->identities, (size_t)(e - s->identities.v));
        return 0;
    }
    return addr_put(&s->identities, address, key_data, key_len);
}

/* Trust on first use: unknown peers are trusted, known ones must match. */
static int ik_trusted(const signal_protocol_address *address, uint8_t *key_data, size_t key_len,
                      void *user_data)
{
    sig_store *s = user_data;
    addr_entry *e = addr_find(&s->identities, address);
    if (e == NULL)
        return 1;
    return signal_buffer_len(e->data) == key_len &&
           memcmp(signal_buffer_const_data(e->data), key_data, key_len) == 0;
}

/* ---- public ---- */

sig_store *sig_store_new(void)
{
    return calloc(1, sizeof(sig_store));
}

void sig_store_free(sig_store *s)
{
    if (s == NULL)
        return;
    addr_clear(&s->sessions);
    addr_clear(&s->identities);
    id_clear(&s->prekeys);
    id_clear(&s->signed_prekeys);
    free(s->sessions.v);
    free(s->identities.v);
    free(s->prekeys.v);
    free(s->signed_prekeys.v);
    signal_buffer_free(s->id_pub);
    signal_buffer_bzero_free(s->id_priv);
    free(s);
}

void sig_store_clear_sessions(sig_store *s)
{
    addr_clear(&s->sessions);
}

int sig_store_set_identity(sig_store *s, const ratchet_identity_key_pair *kp, uint32_t reg_id)
{
    signal_buffer *pub = NULL, *priv = NULL;
    int rc = ec_public_key_serialize(&pub, ratchet_identity_key_pair_get_public(kp));
    if (rc == 0)
        rc = ec_private_key_serialize(&priv, ratchet_identity_key_pair_get_private(kp));
    if (rc != 0) {
        signal_buffer_free(pub);
        signal_buffer_bzero_free(priv);
        return rc;
    }
    signal_buffer_free(s->id_pub);
    signal_buffer_bzero_free(s->id_priv);
    s->id_pub = pub;
    s->id_priv = priv;
    s->reg_id = reg_id;
    return 0;
}

int sig_store_attach(sig_store *s, signal_protocol_store_context *ctx)
{
    const signal_protocol_session_store ss = {
        .load_session_func = s_load,
        .get_sub_device_sessions_func = s_sub_devices,
        .store_session_func = s_store,
        .contains_session_func = s_contains,
        .delete_session_func = s_delete,
        .delete_all_sessions_func = s_delete_all,
        .user_data = s,
    };
    const signal_protocol_pre_key_store pks = {
        .load_pre_key = k_load,
        .store_pre_key = k_store,
        .contains_pre_key = k_contains,
        .remove_pre_key = k_remove,
        .user_data = &s->prekeys,
    };
    const signal_protocol_signed_pre_key_store spks = {
        .load_signed_pre_key = k_load,
        .store_signed_pre_key = k_store,
        .contains_signed_pre_key = k_contains,
        .remove_signed_pre_key = k_remove,
        .user_data = &s->signed_prekeys,
    };
    const signal_protocol_identity_key_store iks = {
        .get_identity_key_pair = ik_pair,
        .get_local_registration_id = ik_reg_id,
        .save_identity = ik_save,
        .is_trusted_identity = ik_trusted,
        .user_data = s,
    };
    int rc = signal_protocol_store_context_set_session_store(ctx, &ss);
    if (rc == 0)
        rc = signal_protocol_store_context_set_pre_key_store(ctx, &pks);
    if (rc == 0)
        rc = signal_protocol_store_context_set_signed_pre_key_store(ctx, &spks);
    if (rc == 0)
        rc = signal_protocol_store_context_set_identity_key_store(ctx, &iks);
    return rc;
}
