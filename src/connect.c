/* tcp_connect (AnyEvent::Socket 7.17) with Happy Eyeballs v2 (RFC 8305),
 * tcp_connect_retry, and the TCP socket options.
 *
 * One heap block per operation while resolving; when the targets arrive a
 * second block holds one attempt per target (its ev_io, deadline and
 * sockaddr). One ev_timer serves the attempt delay, every attempt's
 * timeout, and deferred kicks. */
#include "internal.h"

#include <ev.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

enum { T_UNTRIED, T_ACTIVE, T_FAILED, T_WON };
enum { S_RESOLVING, S_CONNECTING, S_CONNECTED, S_DONE };

typedef struct attempt {
    ev_io io;              /* io.fd is the attempt's socket, or -1 */
    double deadline;       /* ev_now time of the timeout; 0 none */
    int socktype, protocol;
    socklen_t len;
    uint16_t off;          /* sockaddr bytes at ((char *)atts) + off */
    uint8_t status;        /* T_* */
} attempt;

typedef struct conn {
    anysock__op op;        /* first: the guard points here */
    struct ev_loop *loop;
    anysock_connect_cb connect_cb;
    anysock_prepare_cb prepare_cb;
    void *data;
    anysock_guard *resolving;
    attempt *atts;         /* n attempts, then their sockaddrs */
    ev_timer timer;
    double delay;          /* Happy Eyeballs attempt delay; 0 sequential */
    double next_start;     /* ev_now time the next attempt may start */
    unsigned n;
    unsigned nactive;
    int last_err;
    int busy;              /* our frames on the stack */
    uint8_t state;         /* S_* */
    bool cancelled;        /* cancel ran while busy: last frame frees */
    bool has_guard;        /* else the op frees itself when done */
    bool starting;         /* inside anysock_tcp_connect */
    /* One target (a literal host, the common case) lives here, so such a
     * connect costs one allocation. */
    union {
        attempt a;
        char raw[sizeof(attempt) + sizeof(struct sockaddr_in6) + 8];
    } one;
} conn;

static const struct sockaddr *att_addr(const conn *c, const attempt *a)
{
    return (const struct sockaddr *)(const void *)((const char *)c->atts +
                                                   a->off);
}

static void conn_free(conn *c)
{
    if (c->atts != &c->one.a)
        anysock__free(c->atts);
    anysock__free(c);
}

/* Close every attempt still in flight; with `untry` they count as not
 * tried, so a later retry starts them again. */
static void close_attempts(conn *c, bool untry)
{
    for (unsigned i = 0; i < c->n; i++) {
        attempt *a = &c->atts[i];

        if (a->status != T_ACTIVE)
            continue;
        ev_io_stop(c->loop, &a->io);
        if (a->io.fd >= 0)
            anysock__close(a->io.fd);
        ev_io_set(&a->io, -1, EV_WRITE);
        a->status = untry ? T_UNTRIED : T_FAILED;
    }
    c->nactive = 0;
}

static void conn_cancel(anysock__op *op)
{
    conn *c = (conn *)(void *)op;

    if (c->cancelled)
        return;
    anysock_guard_cancel(&c->resolving);
    ev_timer_stop(c->loop, &c->timer);
    close_attempts(c, false);
    anysock__op_unlink(op);
    c->cancelled = true;
    if (c->busy == 0)
        conn_free(c);
}

/* Every loop callback brackets its work with enter/leave, so a cancel from
 * a user callback only marks the op and the outermost frame frees it. */
static void enter(conn *c)
{
    c->busy++;
}

static void leave(conn *c)
{
    if (--c->busy == 0 && c->cancelled)
        conn_free(c);
}

/* Run the engine again from the loop, never from the caller's stack. */
static void kick(conn *c)
{
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_set(&c->timer, 0., 0.);
    ev_timer_start(c->loop, &c->timer);
}

/* The op is over: without a guard nobody will cancel it, so it ends
 * itself (the outermost frame frees it). */
static void finish(conn *c)
{
    c->state = S_DONE;
    if (!c->has_guard) {
        ev_timer_stop(c->loop, &c->timer);
        close_attempts(c, false);
        anysock__op_unlink(&c->op);
        c->cancelled = true;
    }
}

static void fail_attempt(conn *c, attempt *a, int err)
{
    ev_io_stop(c->loop, &a->io);
    anysock__close(a->io.fd);
    ev_io_set(&a->io, -1, EV_WRITE);
    a->status = T_FAILED;
    c->nactive--;
    c->last_err = err;
    /* RFC 8305 §5: a failure starts the next attempt without waiting */
    c->next_start = 0.;
}

static void win(conn *c, attempt *a)
{
    char host[ANYSOCK_ADDRESS_STRLEN];
    anysock_addr addr;
    uint16_t port = 0;
    int fd = a->io.fd;

    ev_io_stop(c->loop, &a->io);
    ev_io_set(&a->io, -1, EV_WRITE);
    a->status = T_WON;
    c->nactive--;
    /* RFC 8305 §5: the first connection wins, the rest are dropped now. */
    close_attempts(c, true);
    ev_timer_stop(c->loop, &c->timer);
    c->state = S_CONNECTED;
    if (anysock_unpack_sockaddr(att_addr(c, a), a->len, &addr, &port, NULL,
                                NULL) < 0 ||
        anysock_format_address(&addr, host, sizeof host) < 0)
        memcpy(host, "unix/", 6);
    c->connect_cb(c->data, 0, fd, host, port);
    /* with a guard the op waits for a retry or the cancel */
    if (!c->cancelled && c->state == S_CONNECTED && !c->has_guard)
        finish(c);
}

/* Socket, prepare_cb, non-blocking connect. Returns with the attempt
 * failed, in flight, or won (connect_cb already called). */
static void start_attempt(conn *c, attempt *a)
{
    const struct sockaddr *sa = att_addr(c, a);
    double timeout = 0.;
    int fd, rc;

    fd = anysock__socket(sa->sa_family, a->socktype, a->protocol);
    if (fd < 0) {
        a->status = T_FAILED;
        c->last_err = fd;
        return;
    }
    /* In flight from here on, so a cancel inside prepare_cb closes fd. */
    ev_io_set(&a->io, fd, EV_WRITE);
    a->status = T_ACTIVE;
    c->nactive++;
    a->deadline = 0.;
    if (c->prepare_cb != NULL) {
        timeout = c->prepare_cb(c->data, fd);
        if (c->cancelled)
            return;
        if (timeout > 0.) {
            ev_now_update(c->loop);
            a->deadline = ev_now(c->loop) + timeout;
        }
    }
    do
        rc = connect(fd, sa, a->len);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        win(c, a);            /* unix sockets connect at once */
        return;
    }
    if (errno != EINPROGRESS) {
        /* EAGAIN too: a full unix backlog or no free local port */
        fail_attempt(c, a, -errno);
        return;
    }
    ev_io_start(c->loop, &a->io);
}

static void deliver_failure(conn *c)
{
    int err = c->last_err < 0 ? c->last_err : -ENXIO;

    ev_timer_stop(c->loop, &c->timer);
    c->state = S_DONE;
    c->connect_cb(c->data, err, -1, NULL, 0);
    if (!c->cancelled && c->state == S_DONE)
        finish(c);
}

static attempt *next_untried(conn *c)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->atts[i].status == T_UNTRIED)
            return &c->atts[i];
    return NULL;
}

/* The engine: start what may start, report when nothing is left, and arm
 * the timer for the next deadline. */
static void step(conn *c)
{
    attempt *a;
    double now, at = 0.;

    while (!c->cancelled && c->state == S_CONNECTING) {
        now = ev_now(c->loop);
        a = next_untried(c);
        if (a == NULL && c->nactive == 0) {
            deliver_failure(c);
            return;
        }
        if (a == NULL || (c->nactive > 0 &&
                          (c->delay <= 0. || now < c->next_start)))
            break;
        c->next_start = now + c->delay;
        start_attempt(c, a);
    }
    if (c->cancelled || c->state != S_CONNECTING)
        return;
    for (unsigned i = 0; i < c->n; i++) {
        a = &c->atts[i];
        if (a->status == T_ACTIVE && a->deadline > 0. &&
            (at == 0. || a->deadline < at))
            at = a->deadline;
    }
    if (c->delay > 0. && next_untried(c) != NULL &&
        (at == 0. || c->next_start < at))
        at = c->next_start;
    ev_timer_stop(c->loop, &c->timer);
    if (at > 0.) {
        now = ev_now(c->loop);
        ev_timer_set(&c->timer, at > now ? at - now : 0., 0.);
        ev_timer_start(c->loop, &c->timer);
    }
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn *c = anysock__container_of(w, conn, timer);
    double now = ev_now(loop);

    (void)revents;
    enter(c);
    for (unsigned i = 0; i < c->n; i++) {
        attempt *a = &c->atts[i];

        if (a->status == T_ACTIVE && a->deadline > 0. && a->deadline <= now)
            fail_attempt(c, a, -ETIMEDOUT);
    }
    step(c);
    leave(c);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    conn *c = w->data;
    attempt *a = (attempt *)(void *)w;   /* io is the first member */
    anysock_sockaddr peer;
    int err = 0;
    socklen_t elen = sizeof err;

    (void)loop;
    (void)revents;
    peer.len = sizeof peer.u;
    enter(c);
    if (getpeername(w->fd, &peer.u.sa, &peer.len) == 0) {
        win(c, a);
    } else if (errno != ENOTCONN) {
        fail_attempt(c, a, -errno);
    } else {
        /* Not connected: SO_ERROR says why; none means a spurious
         * wake-up (7.17 skips EAGAIN the same way). */
        if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = errno;
        if (err != 0 && err != EINPROGRESS && err != EALREADY &&
            err != EAGAIN)
            fail_attempt(c, a, -err);
    }
    step(c);
    leave(c);
}

/* RFC 8305 §4: alternate families, starting with the preferred one (the
 * resolver already lists targets in preference order). */
static void interleave(const anysock_target *t, size_t n, size_t *order)
{
    size_t j = 0, first = 0, other = 0;
    int fam = t[0].family;

    while (j < n) {
        while (first < n && t[first].family != fam)
            first++;
        if (first < n)
            order[j++] = first++;
        while (other < n && t[other].family == fam)
            other++;
        if (other < n)
            order[j++] = other++;
    }
}

static int copy_targets(conn *c, const anysock_target *t, size_t n)
{
    size_t order[64];
    size_t bytes, off, i;
    attempt *atts;

    /* More than this is not a real host; keep the first ones. */
    if (n > ANYSOCK__ARRAY_SIZE(order))
        n = ANYSOCK__ARRAY_SIZE(order);
    interleave(t, n, order);
    bytes = n * sizeof(attempt);
    for (i = 0; i < n; i++)
        bytes += (t[i].addr.len + 7u) & ~(size_t)7u;
    atts = bytes <= sizeof c->one && c->atts != &c->one.a
               ? &c->one.a
               : anysock__malloc(bytes);
    if (atts == NULL)
        return -ENOMEM;
    off = n * sizeof(attempt);
    for (i = 0; i < n; i++) {
        const anysock_target *src = &t[order[i]];
        attempt *a = &atts[i];

        ev_io_init(&a->io, io_cb, -1, EV_WRITE);
        a->io.data = c;
        a->deadline = 0.;
        a->socktype = src->socktype;
        a->protocol = src->protocol;
        a->len = src->addr.len;
        a->off = (uint16_t)off;
        a->status = T_UNTRIED;
        memcpy((char *)atts + off, &src->addr.u, src->addr.len);
        off += (src->addr.len + 7u) & ~(size_t)7u;
    }
    c->atts = atts;
    c->n = (unsigned)n;
    return 0;
}

static void resolved_cb(void *data, int status, const anysock_target *t,
                        size_t count)
{
    conn *c = data;
    int rc;

    enter(c);
    c->state = S_CONNECTING;
    if (status < 0 || count == 0) {
        /* 7.17: ENXIO when resolution gives nothing to try */
        c->last_err = -ENXIO;
    } else if ((rc = copy_targets(c, t, count)) < 0) {
        c->last_err = rc;
    }
    /* finished: free the resolver's op (safe inside its callback) */
    anysock_guard_cancel(&c->resolving);
    if (c->starting)
        kick(c);   /* resolved synchronously: report from the loop */
    else
        step(c);
    leave(c);
}

int anysock_tcp_connect(anysock_ctx *ctx, const char *host,
                        const char *service, anysock_connect_cb connect_cb,
                        anysock_prepare_cb prepare_cb, void *data,
                        anysock_guard **guard)
{
    anysock_target lit;
    conn *c;
    int rc;

    if (ctx == NULL || connect_cb == NULL || host == NULL ||
        service == NULL)
        return -EINVAL;
    c = anysock__calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->op.cancel = conn_cancel;
    c->loop = ctx->loop;
    c->connect_cb = connect_cb;
    c->prepare_cb = prepare_cb;
    c->data = data;
    c->delay = ctx->connect_delay > 0. ? ctx->connect_delay : 0.;
    c->has_guard = guard != NULL;
    c->state = S_RESOLVING;
    ev_timer_init(&c->timer, timer_cb, 0., 0.);
    if (anysock__resolve_literal(ctx, host, service, &lit)) {
        /* nothing to look up: no resolver op, start from the loop */
        if ((rc = copy_targets(c, &lit, 1)) < 0) {
            conn_free(c);
            return rc;
        }
        c->state = S_CONNECTING;
        kick(c);
    } else {
        c->starting = true;
        c->busy = 1;
        rc = anysock_resolve_sockaddr(ctx, host, service, "tcp", 0, 0,
                                      resolved_cb, c, &c->resolving);
        c->starting = false;
        c->busy = 0;
        if (rc < 0) {
            conn_free(c);
            return rc;
        }
        if (c->state != S_RESOLVING)
            anysock_guard_cancel(&c->resolving);
    }
    /* Linked after the resolver's op, so it sits nearer the list head and
     * anysock_ctx_free cancels it (and through it the query) first. */
    anysock__op_link(ctx, &c->op);
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&c->op;
    return 0;
}

int anysock_tcp_connect_retry(anysock_guard *guard)
{
    conn *c = (conn *)(void *)guard;

    if (c == NULL || c->op.cancel != conn_cancel || c->cancelled ||
        c->state != S_CONNECTED)
        return -EINVAL;
    for (unsigned i = 0; i < c->n; i++)
        if (c->atts[i].status == T_WON)
            c->atts[i].status = T_FAILED;
    c->state = S_CONNECTING;
    if (c->last_err == 0)
        c->last_err = -ENXIO;
    kick(c);
    return 0;
}

int anysock_tcp_nodelay(int fd, int on)
{
    int v = on != 0;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0
               ? -errno
               : 0;
}

int anysock_tcp_congestion(int fd, const char *name)
{
    if (name == NULL)
        return -EINVAL;
    return setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name,
                      (socklen_t)strlen(name)) < 0
               ? -errno
               : 0;
}
