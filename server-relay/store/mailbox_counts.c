/*
 * mailbox_counts.h: an open-addressing hash table (linear probing, keyed
 * with a random SipHash key so that nobody can pick ids that collide) and
 * an undo log. Entries are never removed: a mailbox that had messages once
 * keeps its slot (with zero counts), so the table holds at most one entry
 * per registered device.
 */
#include "store/mailbox_counts.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define MIN_SLOTS 1024U

struct slot {
    uint8_t id[RELAY_MBC_ID_BYTES];
    bool used;
    int64_t messages, bytes;
};

struct change {
    uint8_t id[RELAY_MBC_ID_BYTES];
    int64_t messages, bytes;
};

struct relay_mbc {
    struct slot *slots;
    size_t cap, used; /* cap: a power of two */
    struct change *log;
    size_t n_log, cap_log;
    size_t barrier; /* changes below it are never merged into */
    size_t room;    /* relay_mbc_add calls reserved and not yet made */
    uint8_t key[crypto_shorthash_KEYBYTES];
};

static size_t home(const relay_mbc *t, const uint8_t id[RELAY_MBC_ID_BYTES], size_t cap)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, id, RELAY_MBC_ID_BYTES, t->key);
    memcpy(&v, h, sizeof v);
    return (size_t)v & (cap - 1);
}

/* The slot of id, or the free slot where it would go. */
static struct slot *find(const relay_mbc *t, const uint8_t id[RELAY_MBC_ID_BYTES])
{
    for (size_t i = home(t, id, t->cap);; i = (i + 1) & (t->cap - 1)) {
        struct slot *s = &t->slots[i];
        if (!s->used || memcmp(s->id, id, RELAY_MBC_ID_BYTES) == 0)
            return s;
    }
}

relay_mbc *relay_mbc_new(void)
{
    if (sodium_init() < 0)
        return NULL;
    relay_mbc *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->cap = MIN_SLOTS;
    if ((t->slots = calloc(t->cap, sizeof *t->slots)) == NULL) {
        free(t);
        return NULL;
    }
    randombytes_buf(t->key, sizeof t->key);
    return t;
}

void relay_mbc_free(relay_mbc *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t->log);
    free(t);
}

void relay_mbc_get(const relay_mbc *t, const uint8_t id[RELAY_MBC_ID_BYTES], uint64_t *messages,
                   uint64_t *bytes)
{
    const struct slot *s = find(t, id);
    /* Never negative while the store keeps its invariants; 0 if it did not. */
    *messages = s->used && s->messages > 0 ? (uint64_t)s->messages : 0;
    *bytes = s->used && s->bytes > 0 ? (uint64_t)s->bytes : 0;
}

static int grow_table(relay_mbc *t, size_t need)
{
    size_t cap = t->cap;
    /* Load factor at most 1/2: short probe sequences. */
    while (need > cap / 2) {
        if (cap > SIZE_MAX / 2 / sizeof *t->slots)
            return -1;
        cap *= 2;
    }
    if (cap == t->cap)
        return 0;
    struct slot *old = t->slots, *fresh = calloc(cap, sizeof *fresh);
    if (fresh == NULL)
        return -1;
    size_t old_cap = t->cap;
    t->slots = fresh;
    t->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            *find(t, old[i].id) = old[i];
    free(old);
    return 0;
}

int relay_mbc_reserve(relay_mbc *t, size_t n)
{
    if (n > SIZE_MAX / 4 || t->room > SIZE_MAX / 4 - n)
        return -1;
    size_t room = t->room + n;
    if (grow_table(t, t->used + room) != 0)
        return -1;
    if (t->n_log + room > t->cap_log) {
        size_t cap = t->cap_log != 0 ? t->cap_log : 64;
        while (cap < t->n_log + room) {
            if (cap > SIZE_MAX / 2 / sizeof *t->log)
                return -1;
            cap *= 2;
        }
        struct change *log = realloc(t->log, cap * sizeof *log);
        if (log == NULL)
            return -1;
        t->log = log;
        t->cap_log = cap;
    }
    t->room = room;
    return 0;
}

static void apply(relay_mbc *t, const uint8_t id[RELAY_MBC_ID_BYTES], int64_t messages,
                  int64_t bytes)
{
    struct slot *s = find(t, id);
    if (!s->used) {
        memcpy(s->id, id, RELAY_MBC_ID_BYTES);
        s->used = true;
        s->messages = s->bytes = 0;
        t->used++;
    }
    s->messages += messages;
    s->bytes += bytes;
}

void relay_mbc_add(relay_mbc *t, const uint8_t id[RELAY_MBC_ID_BYTES], int64_t messages,
                   int64_t bytes)
{
    /* A caller that skipped relay_mbc_reserve: grow now, or drop the change
     * rather than write out of bounds (counts are derived state; the next
     * open rebuilds them). */
    if (t->room == 0 && relay_mbc_reserve(t, 1) != 0)
        return;
    t->room--;
    apply(t, id, messages, bytes);
    /* Consecutive changes to one mailbox (an ack of a page, a purge in key
     * order) share a log entry. */
    if (t->n_log > t->barrier &&
        memcmp(t->log[t->n_log - 1].id, id, RELAY_MBC_ID_BYTES) == 0) {
        t->log[t->n_log - 1].messages += messages;
        t->log[t->n_log - 1].bytes += bytes;
        return;
    }
    struct change *c = &t->log[t->n_log++];
    memcpy(c->id, id, RELAY_MBC_ID_BYTES);
    c->messages = messages;
    c->bytes = bytes;
}

size_t relay_mbc_mark(relay_mbc *t)
{
    t->barrier = t->n_log;
    return t->n_log;
}

void relay_mbc_undo_to(relay_mbc *t, size_t mark)
{
    while (t->n_log > mark) {
        const struct change *c = &t->log[--t->n_log];
        apply(t, c->id, -c->messages, -c->bytes);
    }
    if (t->barrier > t->n_log)
        t->barrier = t->n_log;
    t->room = 0;
}

void relay_mbc_commit(relay_mbc *t)
{
    t->n_log = t->barrier = 0;
    t->room = 0;
}
