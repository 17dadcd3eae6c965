/* Guards, the ctx's list of live operations, heap and fd helpers. */
#include "internal.h"
#include "cache.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void *anysock__malloc(size_t n)
{
    return malloc(n);
}

void *anysock__calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

void anysock__free(void *p)
{
    free(p);
}

void anysock__op_link(anysock_ctx *ctx, anysock__op *op)
{
    op->ctx = ctx;
    op->prev = NULL;
    op->next = ctx->ops;
    if (ctx->ops)
        ctx->ops->prev = op;
    ctx->ops = op;
}

void anysock__op_unlink(anysock__op *op)
{
    anysock_ctx *ctx = op->ctx;

    if (ctx == NULL)
        return;
    if (op->prev)
        op->prev->next = op->next;
    else
        ctx->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    op->ctx = NULL;
}

void anysock__ctx_cancel_all(anysock_ctx *ctx)
{
    /* cancel unlinks (and may free) the head, so always take it afresh */
    while (ctx->ops != NULL)
        ctx->ops->cancel(ctx->ops);
}

void anysock_guard_cancel(anysock_guard **guard)
{
    anysock__op *op;

    if (guard == NULL || *guard == NULL)
        return;
    op = (anysock__op *)(void *)*guard;
    *guard = NULL;   /* first: a callback run by cancel sees it gone */
    op->cancel(op);
}

int anysock__socket(int domain, int type, int protocol)
{
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);

    return fd < 0 ? -errno : fd;
}

int anysock__accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    int cfd;

    do
        cfd = accept4(fd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (cfd < 0 && errno == EINTR);
    return cfd < 0 ? -errno : cfd;
}

void anysock__close(int fd)
{
    int saved = errno;

    /* Linux frees the fd even when close reports EINTR: never retry. */
    (void)close(fd);
    errno = saved;
}

void anysock__op_finished(anysock__op *op)
{
    op->finished = true;
}

/* Walks the op list: O(live operations), and right by construction
 * whatever order an op sets its kind and links itself in. Meant for
 * monitoring and tests, not for every loop iteration. */
int anysock_ctx_stats_get(const anysock_ctx *ctx, anysock_ctx_stats *st)
{
    anysock_ctx_stats s;
    size_t size;

    if (ctx == NULL || st == NULL || st->size < sizeof st->size)
        return -EINVAL;
    memset(&s, 0, sizeof s);
    size = st->size < sizeof s ? st->size : sizeof s;
    s.size = size;
    for (const anysock__op *op = ctx->ops; op != NULL; op = op->next) {
        if (op->internal)
            continue;
        if (op->finished) {
            s.guards_finished++;
            continue;
        }
        s.ops_live++;
        if (op->kind == ANYSOCK__OP_SERVER)
            s.servers++;
    }
    anysock__dns_stats(ctx, &s.dns_queued, &s.dns_inflight);
    s.attempts = ctx->attempts_active;
    if (ctx->cache != NULL)
        anysock__cache_stats(ctx->cache, &s.cache_hits, &s.cache_misses,
                             &s.cache_evictions);
    /* an older caller's smaller struct gets the fields it knows */
    memcpy(st, &s, size);
    return 0;
}
