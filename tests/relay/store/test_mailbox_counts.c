/*
 * server-relay/store/mailbox_counts.c: counts per mailbox with an undo log
 * (the store's quota counts, schema v3).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "store/mailbox_counts.h"

static void id_of(uint8_t id[RELAY_MBC_ID_BYTES], uint32_t n)
{
    memset(id, 0, RELAY_MBC_ID_BYTES);
    memcpy(id, &n, sizeof n);
    id[RELAY_MBC_ID_BYTES - 1] = 0x5a;
}

static void expect(const relay_mbc *t, uint32_t n, uint64_t messages, uint64_t bytes)
{
    uint8_t id[RELAY_MBC_ID_BYTES];
    id_of(id, n);
    uint64_t m = 77, b = 77;
    relay_mbc_get(t, id, &m, &b);
    cr_assert_eq(m, messages, "mailbox %u: %llu messages, expected %llu", n,
                 (unsigned long long)m, (unsigned long long)messages);
    cr_assert_eq(b, bytes, "mailbox %u: %llu bytes, expected %llu", n, (unsigned long long)b,
                 (unsigned long long)bytes);
}

static void add(relay_mbc *t, uint32_t n, int64_t messages, int64_t bytes)
{
    uint8_t id[RELAY_MBC_ID_BYTES];
    id_of(id, n);
    cr_assert_eq(relay_mbc_reserve(t, 1), 0);
    relay_mbc_add(t, id, messages, bytes);
}

Test(mailbox_counts, unknown_is_zero_and_adds_accumulate)
{
    relay_mbc *t = relay_mbc_new();
    cr_assert_not_null(t);
    expect(t, 1, 0, 0);
    add(t, 1, 1, 10);
    add(t, 1, 1, 5);
    add(t, 2, 1, 7);
    relay_mbc_commit(t);
    expect(t, 1, 2, 15);
    expect(t, 2, 1, 7);
    add(t, 1, -2, -15);
    relay_mbc_commit(t);
    expect(t, 1, 0, 0);
    relay_mbc_free(t);
    relay_mbc_free(NULL);
}

/* The table grows (rehashes) past its first 1024 slots and keeps every count. */
Test(mailbox_counts, many_mailboxes_survive_growth)
{
    enum { N = 20000 };
    relay_mbc *t = relay_mbc_new();
    cr_assert_not_null(t);
    cr_assert_eq(relay_mbc_reserve(t, N), 0);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t id[RELAY_MBC_ID_BYTES];
        id_of(id, i);
        relay_mbc_add(t, id, 1, i);
    }
    for (uint32_t i = 0; i < N; i += 2)
        add(t, i, 1, 1);
    relay_mbc_commit(t);
    for (uint32_t i = 0; i < N; i++)
        expect(t, i, i % 2 == 0 ? 2 : 1, i % 2 == 0 ? (uint64_t)i + 1 : i);
    relay_mbc_free(t);
}

/* Undo to a mark takes back exactly the changes after it, newest first,
 * also where consecutive changes to one mailbox were merged. */
Test(mailbox_counts, undo_to_mark)
{
    relay_mbc *t = relay_mbc_new();
    cr_assert_not_null(t);
    size_t m0 = relay_mbc_mark(t);
    add(t, 1, 1, 3);
    add(t, 1, 1, 3); /* merged with the one before */
    size_t m1 = relay_mbc_mark(t);
    add(t, 1, 1, 4); /* after a mark: not merged */
    add(t, 2, 1, 1);
    add(t, 3, 1, 1);
    expect(t, 1, 3, 10);
    relay_mbc_undo_to(t, m1);
    expect(t, 1, 2, 6);
    expect(t, 2, 0, 0);
    expect(t, 3, 0, 0);
    add(t, 2, 1, 9);
    expect(t, 2, 1, 9);
    relay_mbc_undo_to(t, m0);
    expect(t, 1, 0, 0);
    expect(t, 2, 0, 0);

    /* Committed changes are not undone. */
    add(t, 4, 1, 1);
    relay_mbc_commit(t);
    relay_mbc_undo_to(t, 0);
    expect(t, 4, 1, 1);
    relay_mbc_free(t);
}

/* A count taken below zero (a broken invariant) reads as zero. */
Test(mailbox_counts, negative_reads_as_zero)
{
    relay_mbc *t = relay_mbc_new();
    cr_assert_not_null(t);
    add(t, 9, -1, -5);
    expect(t, 9, 0, 0);
    add(t, 9, 2, 8);
    expect(t, 9, 1, 3);
    relay_mbc_free(t);
}

/* Without a reservation an add still works (it reserves for itself). */
Test(mailbox_counts, add_without_reserve)
{
    relay_mbc *t = relay_mbc_new();
    cr_assert_not_null(t);
    uint8_t id[RELAY_MBC_ID_BYTES];
    for (uint32_t i = 0; i < 3000; i++) {
        id_of(id, i);
        relay_mbc_add(t, id, 1, 1);
    }
    for (uint32_t i = 0; i < 3000; i++)
        expect(t, i, 1, 1);
    relay_mbc_undo_to(t, 0);
    for (uint32_t i = 0; i < 3000; i += 100)
        expect(t, i, 0, 0);
    relay_mbc_free(t);
}
