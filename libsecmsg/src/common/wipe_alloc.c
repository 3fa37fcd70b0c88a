#include "common/wipe_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Size header in front of the block; 16 bytes keep malloc's alignment. */
#define HEADER 16U

void *secmsg__wipe_alloc(size_t size)
{
    if (size > SIZE_MAX - HEADER)
        return NULL;
    uint8_t *p = malloc(size + HEADER);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof size);
    return p + HEADER;
}

void secmsg__wipe_free(void *ptr)
{
    if (ptr == NULL)
        return;
    uint8_t *p = (uint8_t *)ptr - HEADER;
    size_t size;
    memcpy(&size, p, sizeof size);
    sodium_memzero(p, HEADER + size);
    free(p);
}
