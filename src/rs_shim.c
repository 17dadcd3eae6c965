/* TEMPORARY (issue 12, until the resolver branch is merged): a weak
 * anysock__resolve_stream over anysock_resolve_sockaddr, so tcp_connect
 * builds and runs before the real streaming resolver lands. It reports
 * every family at once, when the whole lookup is over; the strong
 * definition in resolver.c replaces it at link time. */
#include "internal.h"

#include <errno.h>

typedef struct shim {
    anysock__op op;
    anysock_guard *g;
    anysock__rs_cb cb;
    void *data;
    bool in_cb, dead;
} shim;

static void shim_cancel(anysock__op *op)
{
    shim *s = (shim *)(void *)op;

    anysock_guard_cancel(&s->g);
    anysock__op_unlink(op);
    if (s->in_cb)
        s->dead = true;
    else
        anysock__free(s);
}

static void shim_resolved(void *data, int status, const anysock_target *t,
                          size_t n)
{
    shim *s = data;
    static const int fams[2] = { AF_INET, AF_INET6 };
    anysock__rs_event ev = { .ngroups = 1 };

    s->in_cb = true;
    for (int f = 0; f < 2 && !s->dead; f++) {
        size_t first = n, k = 0;

        for (size_t i = 0; i < n; i++)
            if (t[i].family == fams[f]) {
                if (first == n)
                    first = i;
                k++;
            }
        if (k == 0)
            continue;
        ev.kind = ANYSOCK__RS_ANSWER;
        ev.family = fams[f];
        ev.targets = &t[first];
        ev.count = k;   /* the resolver keeps one family together */
        s->cb(s->data, &ev);
    }
    for (size_t i = 0; i < n && !s->dead; i++)
        if (t[i].family == AF_UNIX) {
            ev.kind = ANYSOCK__RS_ANSWER;
            ev.family = AF_UNIX;
            ev.targets = &t[i];
            ev.count = 1;
            s->cb(s->data, &ev);
        }
    if (!s->dead) {
        ev.kind = ANYSOCK__RS_DONE;
        ev.status = status;
        ev.targets = NULL;
        ev.count = 0;
        anysock__op_unlink(&s->op);
        s->cb(s->data, &ev);
        s->dead = true;
    }
    s->in_cb = false;
    anysock_guard_cancel(&s->g);   /* safe inside its own callback */
    anysock__free(s);
}

__attribute__((weak)) int
anysock__resolve_stream(anysock_ctx *ctx, const char *node,
                        const char *service, int family, int srv,
                        anysock__rs_cb cb, void *data, anysock__op **op)
{
    shim *s = anysock__calloc(1, sizeof *s);
    int rc;

    (void)srv;
    if (s == NULL)
        return -ENOMEM;
    s->op.cancel = shim_cancel;
    s->cb = cb;
    s->data = data;
    rc = anysock_resolve_sockaddr(ctx, node, service, "tcp", family, 0,
                                  shim_resolved, s, &s->g);
    if (rc < 0) {
        anysock__free(s);
        return rc;
    }
    anysock__op_link(ctx, &s->op);
    *op = &s->op;
    return 0;
}
