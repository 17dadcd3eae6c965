/* A malloc interposer for the bench binary only: malloc and friends
 * defined here win over libc's for the whole process (libev, libuv and
 * c-ares included) and forward to glibc's __libc_* entry points.
 * It counts calls and live usable bytes while switched on. */
#include "bench.h"

#include <malloc.h>
#include <stddef.h>

/* Sanitizers own malloc; counting then is not possible (the memory rows
 * say so and are skipped). */
#if defined(__SANITIZE_ADDRESS__)
#define NO_INTERPOSER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NO_INTERPOSER 1
#endif
#endif

#ifndef NO_INTERPOSER

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

/* Process-wide by nature: an interposer has nowhere else to keep them. */
static int counting;
static uint64_t calls;
static int64_t live;

static void note_alloc(void *p)
{
    if (p && __atomic_load_n(&counting, __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&live, (int64_t)malloc_usable_size(p),
                           __ATOMIC_RELAXED);
    }
}

static void note_free(void *p)
{
    if (p && __atomic_load_n(&counting, __ATOMIC_RELAXED))
        __atomic_sub_fetch(&live, (int64_t)malloc_usable_size(p),
                           __ATOMIC_RELAXED);
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);

    note_alloc(p);
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);

    note_alloc(p);
    return p;
}

void *realloc(void *old, size_t n)
{
    void *p;

    note_free(old);
    p = __libc_realloc(old, n);
    /* a failed realloc leaves the old block allocated */
    note_alloc(p != NULL || n == 0 ? p : old);
    return p;
}

void free(void *p)
{
    note_free(p);
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);

    note_alloc(p);
    return p;
}

void *aligned_alloc(size_t align, size_t n)
{
    return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p;

    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return 22; /* EINVAL, without <errno.h>'s macro games */
    p = memalign(align, n);
    if (p == NULL)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

bool bench_alloc_available(void)
{
    return true;
}

void bench_alloc_start(void)
{
    __atomic_store_n(&calls, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&live, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&counting, 1, __ATOMIC_SEQ_CST);
}

void bench_alloc_stop(bench_alloc_stats *out)
{
    __atomic_store_n(&counting, 0, __ATOMIC_SEQ_CST);
    out->calls = __atomic_load_n(&calls, __ATOMIC_RELAXED);
    out->live = __atomic_load_n(&live, __ATOMIC_RELAXED);
}

#else

bool bench_alloc_available(void)
{
    return false;
}

void bench_alloc_start(void)
{
}

void bench_alloc_stop(bench_alloc_stats *out)
{
    out->calls = 0;
    out->live = 0;
}

#endif
