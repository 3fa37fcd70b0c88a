/*
 * Heap blocks that are wiped when freed: each carries its size in a
 * 16-byte header, so the free needs no length. For short-lived copies of
 * secrets (decoded session states, store blobs), where sodium_malloc's
 * guard pages would cost several system calls per copy.
 */
#ifndef SECMSG_COMMON_WIPE_ALLOC_H
#define SECMSG_COMMON_WIPE_ALLOC_H

#include <stddef.h>

/** size bytes (uninitialised), or NULL. */
void *secmsg__wipe_alloc(size_t size);
/** Wipes and frees a block from secmsg__wipe_alloc. NULL-safe. */
void secmsg__wipe_free(void *p);

#endif
