/* Link-time wrap (-Wl,--wrap=anysock__malloc,--wrap=anysock__calloc) that
 * counts the library's allocations and fails the one numbered fail_at
 * (from 0; -1 none). Works because the tests link the static library. */
#ifndef ANYSOCK_TEST_FAILALLOC_H
#define ANYSOCK_TEST_FAILALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *__real_anysock__malloc(size_t n);
void *__real_anysock__calloc(size_t n, size_t size);
void *__wrap_anysock__malloc(size_t n);
void *__wrap_anysock__calloc(size_t n, size_t size);

static long fail_at = -1;
static long count;          /* allocations since the test last reset it */

static bool should_fail(void)
{
    return count++ == fail_at;
}

void *__wrap_anysock__malloc(size_t n)
{
    return should_fail() ? NULL : __real_anysock__malloc(n);
}

void *__wrap_anysock__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_anysock__calloc(n, size);
}

#endif
