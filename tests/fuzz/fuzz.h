/* Shared helpers for the libFuzzer targets: exact-size input copies (so
 * ASan flags any read past the length), invariant checks that abort, and
 * canary-filled outputs for "untouched on failure". */
#ifndef ANYSOCK_FUZZ_H
#define ANYSOCK_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anysock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort(), not assert(): the check must survive NDEBUG builds. */
#define CHECK(c)                                                            \
    do {                                                                    \
        if (!(c)) {                                                         \
            fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__,    \
                    __LINE__, #c);                                          \
            abort();                                                        \
        }                                                                   \
    } while (0)

#define CANARY 0xa5

/* A heap copy of exactly n bytes: no slack for an overread to hide in. */
static inline char *fz_dup(const void *p, size_t n)
{
    char *c = malloc(n ? n : 1);

    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    /* n == 0: one byte, only for a non-NULL pointer; a read of it with
     * length 0 is the one overread ASan cannot see here. */
    return c;
}

static inline void fz_fill(void *p, size_t n)
{
    memset(p, CANARY, n);
}

static inline int fz_untouched(const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i] != CANARY)
            return 0;
    return 1;
}

/* A formatter's result: the length, NUL-terminated there, within outlen. */
static inline void fz_check_formatted(int r, const char *out, size_t outlen)
{
    CHECK(r >= 0);
    CHECK((size_t)r < outlen);
    CHECK(out[r] == '\0');
    CHECK(strlen(out) == (size_t)r);
}

/* A span [p, p+n) lies inside [base, base+len). */
static inline int fz_inside(const char *p, size_t n, const char *base,
                            size_t len)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

    return a >= b && a <= b + len && n <= b + len - a;
}

#endif
