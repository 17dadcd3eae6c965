/* tcp_connect (AnyEvent::Socket 7.17) with Happy Eyeballs v2 (RFC 8305
 * §3-§5), tcp_connect_ex with per-call options, the attempt report and
 * trace, tcp_connect_retry, and the TCP socket options.
 *
 * The RFC's decisions live in he.c (pure, virtual time); this file is the
 * shell around it: the streaming lookup, sockets, libev watchers and the
 * user's callbacks. One heap block per operation; each address gets a
 * slot (its ev_io and sockaddr), inline for the first one, so a literal
 * host costs one allocation. One ev_timer serves the attempt delay, the
 * resolution delay, every attempt's timeout, the deadline and kicks. */
#include "he.h"
#include "internal.h"

#include <ev.h>

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

enum { S_RUNNING, S_CONNECTED, S_DONE };

typedef struct slot {
    ev_io io;              /* io.fd is the attempt's socket, or -1 */
    uint8_t len;           /* sockaddr length (at most sun's 110) */
    uint8_t socktype, protocol;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;                   /* AF_UNIX: extra.un instead */
} slot;

/* Resolution outcomes that are not addresses, for the report. */
typedef struct rfail {
    double at;
    int family, status, phase;
} rfail;

#define RFAIL_MAX 8

/* what anysock.h promises about the report's length */
_Static_assert(ANYSOCK__HE_MAX_ATTEMPTS == ANYSOCK_CONNECT_MAX_ATTEMPTS,
               "per-family attempt cap");
_Static_assert(2 * ANYSOCK__HE_MAX_ATTEMPTS + RFAIL_MAX == // NOLINT(misc-redundant-expression)
                   ANYSOCK_CONNECT_REPORT_MAX,
               "report rows");

/* What most calls never need, in a second block made on demand. */
typedef struct extra {
    anysock_trace_cb trace;
    void *trace_data;
    anysock_connect_opts *topts;  /* transport options; NULL: plain */
    struct sockaddr_un un;        /* the one unix/ target, if any */
    unsigned nrf;
    rfail rf[RFAIL_MAX];
} extra;

/* Kept small: a literal host's connect is this one block (the
 * connect-memory bench row compares it with libuv's). */
typedef struct conn {
    anysock__op op;        /* first: the guard points here */
    anysock_ctx *ctx;
    anysock_connect_cb connect_cb;
    anysock_prepare_cb prepare_cb;
    void *data;
    anysock__op *rs;       /* the streaming lookup until DONE */
    extra *x;              /* NULL until needed */
    slot **more;           /* slots of entries 1.. (entry 0: one_s) */
    ev_timer timer;
    double t0;             /* ev_now at the start call */
    anysock__he he;
    uint16_t nmore;        /* capacity of more */
    uint8_t busy;          /* our frames on the stack */
    uint8_t state;         /* S_* */
    bool cancelled;        /* cancel ran while busy: last frame frees */
    bool has_guard;        /* else the op frees itself when done */
    bool starting;         /* inside the start call */
    bool nomem;            /* an address was dropped for lack of memory */
    anysock__he_entry one_e;
    slot one_s;
} conn;

static slot *slot_at(const conn *c, size_t i)
{
    return i == 0 ? (slot *)&c->one_s : c->more[i - 1];
}

static extra *get_extra(conn *c)
{
    if (c->x == NULL)
        c->x = anysock__calloc(1, sizeof *c->x);
    return c->x;
}

static double now_of(conn *c)
{
    return ev_now(c->ctx->loop);
}

static const struct sockaddr *slot_addr(const conn *c, const slot *s)
{
    return s->u.sa.sa_family == AF_UNIX && c->x != NULL
               ? (const struct sockaddr *)(const void *)&c->x->un
               : &s->u.sa;
}

static void slot_close(conn *c, slot *s)
{
    if (s->io.fd < 0)
        return;
    ev_io_stop(c->ctx->loop, &s->io);
    anysock__close(s->io.fd);
    ev_io_set(&s->io, -1, EV_WRITE);
    c->ctx->attempts_active--;
}

static void close_all(conn *c)
{
    for (size_t i = 0; i < c->he.n; i++)
        slot_close(c, slot_at(c, i));
}

static void stop_lookup(conn *c)
{
    anysock__op *rs = c->rs;

    c->rs = NULL;
    if (rs != NULL)
        rs->cancel(rs);
}

static void conn_free(conn *c)
{
    for (size_t i = 1; i < c->he.n; i++)
        anysock__free(c->more[i - 1]);
    anysock__free(c->more);
    anysock__he_free(&c->he);
    if (c->x != NULL)
        anysock__free(c->x->topts);
    anysock__free(c->x);
    anysock__free(c);
}

static void conn_cancel(anysock__op *op)
{
    conn *c = (conn *)(void *)op;

    if (c->cancelled)
        return;
    stop_lookup(c);
    ev_timer_stop(c->ctx->loop, &c->timer);
    close_all(c);
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
    ev_timer_stop(c->ctx->loop, &c->timer);
    ev_timer_set(&c->timer, 0., 0.);
    ev_timer_start(c->ctx->loop, &c->timer);
}

/* The op is over: without a guard nobody will cancel it, so it ends
 * itself (the outermost frame frees it). */
static void finish(conn *c)
{
    if (c->state != S_CONNECTED)
        c->state = S_DONE;   /* a connection stays open to a retry */
    if (!c->has_guard) {
        stop_lookup(c);
        ev_timer_stop(c->ctx->loop, &c->timer);
        close_all(c);
        anysock__op_unlink(&c->op);
        c->cancelled = true;
    } else {
        anysock__op_finished(&c->op);
    }
}

/* ---- the report and the trace ------------------------------------------- */

static void fill_attempt(const conn *c, size_t i, double now,
                         anysock_attempt *out)
{
    const anysock__he_entry *e = &c->he.e[i];
    const slot *s = slot_at(c, i);

    memset(out, 0, sizeof *out);
    out->family = e->family;
    if (anysock_unpack_sockaddr(slot_addr(c, s), s->len, &out->addr,
                                &out->port, NULL, NULL) < 0)
        out->addr.family = e->family;
    out->status = e->status;
    out->phase = e->phase;
    out->started = e->started - c->t0;
    out->duration = e->order < 0 ? 0.
                    : e->ran >= 0.f ? (double)e->ran
                                    : now - e->started;
    if (out->duration < 0.)
        out->duration = 0.;
}

/* Call the trace callback; returns false when it cancelled the op. */
static bool trace(conn *c, int event, size_t i, int family, size_t count,
                  int status)
{
    anysock_trace ev;
    anysock_attempt a;

    if (c->x == NULL || c->x->trace == NULL)
        return true;
    memset(&ev, 0, sizeof ev);
    ev.event = event;
    ev.elapsed = now_of(c) - c->t0;
    ev.family = family;
    ev.count = count;
    ev.status = status;
    if (event != ANYSOCK_TRACE_ANSWER) {
        fill_attempt(c, i, now_of(c), &a);
        ev.attempt = &a;
        ev.family = a.family;
    }
    c->x->trace(c->x->trace_data, &ev);
    return !c->cancelled;
}

static void add_rfail(conn *c, int family, int status, int phase)
{
    extra *x = get_extra(c);

    if (x == NULL || x->nrf >= RFAIL_MAX)
        return;   /* the report loses a row, the call goes on */
    x->rf[x->nrf].at = now_of(c);
    x->rf[x->nrf].family = family;
    x->rf[x->nrf].status = status;
    x->rf[x->nrf].phase = phase;
    x->nrf++;
}

size_t anysock_connect_report(const anysock_guard *guard,
                              anysock_attempt *out, size_t max)
{
    const conn *c = (const conn *)(const void *)guard;
    size_t total = 0, r = 0, nrf;
    const rfail *rf;
    double now;
    int order = 0;

    if (c == NULL || c->op.cancel != conn_cancel || c->cancelled)
        return 0;
    now = ev_now(c->ctx->loop);
    nrf = c->x != NULL ? c->x->nrf : 0;
    rf = c->x != NULL ? c->x->rf : NULL;
    /* attempts in start order, resolution failures merged in by time */
    for (;;) {
        long best = -1;

        for (size_t i = 0; i < c->he.n; i++)
            if (c->he.e[i].order >= order &&
                (best < 0 || c->he.e[i].order < c->he.e[best].order))
                best = (long)i;
        while (r < nrf &&
               (best < 0 || rf[r].at <= c->he.e[best].started)) {
            if (total < max) {
                anysock_attempt *a = &out[total];

                memset(a, 0, sizeof *a);
                a->family = rf[r].family;
                a->addr.family = 0;
                a->status = rf[r].status;
                a->phase = rf[r].phase;
                a->started = rf[r].at - c->t0;
            }
            total++;
            r++;
        }
        if (best < 0)
            break;
        if (total < max)
            fill_attempt(c, (size_t)best, now, &out[total]);
        total++;
        order = c->he.e[best].order + 1;
    }
    return total;
}

/* ---- attempts ----------------------------------------------------------- */

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void step(conn *c);

static size_t slot_index(const conn *c, const slot *s)
{
    for (size_t i = 0; i < c->he.n; i++)
        if (slot_at(c, i) == s)
            return i;
    return SIZE_MAX;
}

/* One attempt ended in error: close it and tell the trace. Returns false
 * when the trace cancelled the op. */
static bool attempt_failed(conn *c, size_t i, int err, int phase)
{
    slot_close(c, slot_at(c, i));
    anysock__he_failed(&c->he, i, now_of(c), err, phase);
    return trace(c, ANYSOCK_TRACE_ATTEMPT_FAIL, i, 0, 0, err);
}

static void win(conn *c, size_t i)
{
    char host[ANYSOCK_ADDRESS_STRLEN];
    anysock_addr addr;
    uint16_t port = 0;
    slot *s = slot_at(c, i);
    int fd = s->io.fd;
    double now = now_of(c);

    ev_io_stop(c->ctx->loop, &s->io);
    ev_io_set(&s->io, -1, EV_WRITE);
    c->ctx->attempts_active--;
    ev_timer_stop(c->ctx->loop, &c->timer);
    /* RFC 8305 §5: the first connection wins; the rest are dropped now,
     * and so is any lookup still running */
    if (c->rs != NULL) {
        stop_lookup(c);
        anysock__he_done(&c->he, now, 0);
    }
    anysock__he_won(&c->he, i, now);
    c->state = S_CONNECTED;
    for (size_t k = 0; k < c->he.n; k++) {
        if (slot_at(c, k)->io.fd < 0)
            continue;
        slot_close(c, slot_at(c, k));
        if (!trace(c, ANYSOCK_TRACE_ATTEMPT_FAIL, k, 0, 0, -ECANCELED))
            goto cancelled;
    }
    if (!trace(c, ANYSOCK_TRACE_ATTEMPT_WON, i, 0, 0, 0))
        goto cancelled;
    if (anysock_unpack_sockaddr(slot_addr(c, s), s->len, &addr, &port,
                                NULL, NULL) < 0 ||
        addr.family == AF_UNIX ||
        anysock_format_address(&addr, host, sizeof host) < 0)
        memcpy(host, "unix/", 6);
    c->connect_cb(c->data, 0, fd, host, port);
    /* with a guard the op waits for a retry or the cancel */
    if (!c->cancelled && c->state == S_CONNECTED)
        finish(c);
    return;
cancelled:
    anysock__close(fd);   /* nobody took it */
}

static int attempt_socket(conn *c, const struct sockaddr *sa, slot *s,
                          int *mptcp)
{
    const anysock_connect_opts *o = c->x != NULL ? c->x->topts : NULL;

    *mptcp = 0;
    if (sa->sa_family == AF_UNIX || o == NULL)
        return anysock__socket(sa->sa_family, s->socktype, s->protocol);
    /* TFO only when there is nothing to race (see the header) */
    return anysock__connect_socket(
        o, sa->sa_family, s->socktype, s->protocol,
        (o->flags & ANYSOCK_CONNECT_FASTOPEN) && c->he.done &&
            c->he.n == 1,
        mptcp);
}

/* Socket, prepare_cb, non-blocking connect. Returns with the attempt
 * failed, in flight, or won (connect_cb already called). */
static void start_attempt(conn *c, size_t i)
{
    slot *s = slot_at(c, i);
    const struct sockaddr *sa = slot_addr(c, s);
    double timeout = 0.;
    int fd, rc, mptcp = 0;

    if (!trace(c, ANYSOCK_TRACE_ATTEMPT_START, i, 0, 0, 0))
        return;
    fd = attempt_socket(c, sa, s, &mptcp);
    if (fd < 0) {
        /* RFC 8305 §5: as any failed attempt, the next starts at once */
        anysock__he_failed(&c->he, i, now_of(c), fd, ANYSOCK_PHASE_SOCKET);
        (void)trace(c, ANYSOCK_TRACE_ATTEMPT_FAIL, i, 0, 0, fd);
        return;
    }
    /* In flight from here on, so a cancel inside prepare_cb closes fd. */
    ev_io_set(&s->io, fd, EV_WRITE);
    c->ctx->attempts_active++;
    if (c->x != NULL && c->x->topts != NULL &&
        (c->x->topts->flags & ANYSOCK_CONNECT_MPTCP) &&
        !trace(c, ANYSOCK_TRACE_TRANSPORT, i, 0, 0, mptcp))
        return;
    if (c->prepare_cb != NULL) {
        timeout = c->prepare_cb(c->data, fd);
        if (c->cancelled)
            return;
        ev_now_update(c->ctx->loop);
    }
    anysock__he_started(&c->he, i, now_of(c),
                        timeout > 0. && isfinite(timeout) ? timeout : 0.);
    do
        rc = connect(fd, sa, s->len);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        win(c, i);            /* unix sockets connect at once */
        return;
    }
    if (errno != EINPROGRESS) {
        /* EAGAIN too: a full unix backlog or no free local port */
        (void)attempt_failed(c, i, -errno, ANYSOCK_PHASE_CONNECT);
        return;
    }
    ev_io_start(c->ctx->loop, &s->io);
}

static void deliver_failure(conn *c, int err)
{
    ev_timer_stop(c->ctx->loop, &c->timer);
    stop_lookup(c);
    close_all(c);
    c->state = S_DONE;
    if (c->he.nstarted == 0 && (c->x == NULL || c->x->nrf == 0))
        add_rfail(c, 0, err,
                  err == -ETIMEDOUT ? ANYSOCK_PHASE_DEADLINE
                                    : ANYSOCK_PHASE_RESOLVE);
    c->connect_cb(c->data, err, -1, NULL, 0);
    if (!c->cancelled && c->state == S_DONE)
        finish(c);
}

/* The engine: do what he.c says until it says wait, then arm the timer. */
static void step(conn *c)
{
    anysock__he_action a;

    while (!c->cancelled && c->state == S_RUNNING) {
        double now = now_of(c);

        anysock__he_next(&c->he, now, &a);
        switch (a.kind) {
        case ANYSOCK__HE_START:
            start_attempt(c, a.entry);
            continue;
        case ANYSOCK__HE_EXPIRE:
            slot_close(c, slot_at(c, a.entry));
            (void)trace(c, ANYSOCK_TRACE_ATTEMPT_FAIL, a.entry, 0, 0,
                        a.status);
            continue;
        case ANYSOCK__HE_FAIL:
            deliver_failure(c, a.status);
            return;
        default:
            ev_timer_stop(c->ctx->loop, &c->timer);
            if (a.at > 0.) {
                ev_timer_set(&c->timer, a.at > now ? a.at - now : 0., 0.);
                ev_timer_start(c->ctx->loop, &c->timer);
            }
            return;
        }
    }
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn *c = anysock__container_of(w, conn, timer);

    (void)loop;
    (void)revents;
    enter(c);
    step(c);
    leave(c);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    conn *c = w->data;
    slot *s = (slot *)(void *)w;   /* io is the first member */
    size_t i = slot_index(c, s);
    anysock_sockaddr peer;
    int err = 0;
    socklen_t elen = sizeof err;

    (void)loop;
    (void)revents;
    peer.len = sizeof peer.u;
    enter(c);
    if (getpeername(w->fd, &peer.u.sa, &peer.len) == 0) {
        win(c, i);
    } else if (errno != ENOTCONN) {
        (void)attempt_failed(c, i, -errno, ANYSOCK_PHASE_CONNECT);
    } else {
        /* Not connected: SO_ERROR says why; none means a spurious
         * wake-up (7.17 skips EAGAIN the same way). */
        if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = errno;
        if (err != 0 && err != EINPROGRESS && err != EALREADY &&
            err != EAGAIN)
            (void)attempt_failed(c, i, -err, ANYSOCK_PHASE_CONNECT);
    }
    step(c);
    leave(c);
}

/* ---- addresses as they arrive ------------------------------------------- */

static bool family_allowed(const conn *c, int family, int v4, int v6)
{
    (void)c;
    if (family == AF_INET)
        return v4 > 0;
    if (family == AF_INET6)
        return v6 > 0;
    return true;   /* unix/ */
}

/* One address into the core and a slot. Returns 0, or < 0 when dropped. */
static int add_target(conn *c, const anysock_target *t, size_t group)
{
    slot *s;
    size_t n0 = c->he.n;
    int i;

    if (t->family == AF_UNIX ? t->addr.len > sizeof c->x->un
                             : t->addr.len > sizeof s->u)
        return -EINVAL;
    if (t->family == AF_UNIX && get_extra(c) == NULL)
        goto nomem;
    i = anysock__he_add(&c->he, t->family, group);
    if (i < 0)
        return i;
    if (c->he.n == n0) {
        /* it took an untried entry's place (table full): that slot never
         * had a socket, so it is rewritten in place */
        s = slot_at(c, (size_t)i);
        goto fill;
    }
    if (i > 0 && (size_t)i > c->nmore) {
        /* pointers only: a running attempt's slot never moves (libev
         * holds its ev_io) */
        size_t ncap = c->he.cap - 1u;
        slot **nv = anysock__malloc(ncap * sizeof(slot *));

        if (nv == NULL)
            goto unadd;
        if (c->nmore)
            memcpy(nv, c->more, c->nmore * sizeof(slot *));
        anysock__free(c->more);
        c->more = nv;
        c->nmore = (uint16_t)ncap;
    }
    s = i == 0 ? &c->one_s : anysock__malloc(sizeof *s);
    if (s == NULL)
        goto unadd;
fill:
    memset(s, 0, sizeof *s);
    if (t->family == AF_UNIX) {
        memset(&c->x->un, 0, sizeof c->x->un);
        memcpy(&c->x->un, &t->addr.u, t->addr.len);
        s->u.sa.sa_family = AF_UNIX;
    } else {
        memcpy(&s->u, &t->addr.u, t->addr.len);
    }
    ev_io_init(&s->io, io_cb, -1, EV_WRITE);
    s->io.data = c;
    s->len = (uint8_t)t->addr.len;
    s->socktype = (uint8_t)t->socktype;
    s->protocol = (uint8_t)t->protocol;
    if (i > 0 && c->he.n != n0)
        c->more[i - 1] = s;
    return 0;
unadd:
    /* take the entry back out: it was the last one added */
    c->he.n--;
nomem:
    c->nomem = true;
    return -ENOMEM;
}

/* Resolution errors that name DNS (issue 15): a DNS timeout is not a
 * connect timeout, a refused DNS connection is not a refused target. */
static int dns_error(int status)
{
    if (status == -ETIMEDOUT)
        return ANYSOCK_EDNSTIMEOUT;
    if (status == -ECONNREFUSED)
        return ANYSOCK_EDNSCONN;
    return status;
}

static void rs_cb(void *data, const anysock__rs_event *ev)
{
    conn *c = data;
    double now;
    size_t added = 0;

    enter(c);
    now = now_of(c);
    if (ev->kind == ANYSOCK__RS_ANSWER) {
        size_t n = ev->count;
        int st = ev->status, drop = 0;

        if (n > ANYSOCK__HE_MAX_PER_ANSWER)
            n = ANYSOCK__HE_MAX_PER_ANSWER;
        for (size_t k = 0; k < n; k++) {
            int rc = add_target(c, &ev->targets[k], ev->group);

            if (rc == 0)
                added++;
            else if (drop == 0)
                drop = rc;
        }
        /* no address at all is "no such name"; addresses that could not
         * be kept (table full of better-ordered ones, no memory) are not:
         * the trace tells the answer as it came, the report shows the
         * drop with its own status (-ENOSPC, -ENOMEM) */
        if (st == 0 && ev->count == 0)
            st = -ENXIO;
        anysock__he_answer(&c->he, now, ev->family, ev->group, ev->ngroups,
                           added, st);
        if (st < 0)
            add_rfail(c, ev->family, dns_error(st), ANYSOCK_PHASE_RESOLVE);
        else if (added == 0)
            add_rfail(c, ev->family, drop < 0 ? drop : -ENOSPC,
                      ANYSOCK_PHASE_RESOLVE);
        if (!trace(c, ANYSOCK_TRACE_ANSWER, 0, ev->family,
                   st < 0 ? added : ev->count, dns_error(st)))
            goto out;
    } else {
        int st = dns_error(ev->status);

        c->rs = NULL;   /* it frees itself after this returns */
        if (st == 0 && c->he.n == 0)
            st = c->nomem ? -ENOMEM : -ENXIO;
        anysock__he_done(&c->he, now, st);
    }
    if (c->starting)
        kick(c);   /* never from inside the start call */
    else
        step(c);
out:
    leave(c);
}

/* ---- options ------------------------------------------------------------ */

void anysock_connect_opts_init(anysock_connect_opts *o)
{
    if (o == NULL)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->deadline = 0.;
    o->attempt_delay = -1.;
    o->resolution_delay = -1.;
    o->first_family_count = 0;
}

int anysock__connect_opts_copy(anysock_connect_opts *dst,
                               const anysock_connect_opts *src)
{
    size_t n;

    anysock_connect_opts_init(dst);
    if (src == NULL)
        return 0;
    /* an older caller's struct is shorter: its fields only, defaults for
     * the rest; a newer one's extra fields are unknown here */
    if (src->size < offsetof(anysock_connect_opts, deadline) + sizeof(double))
        return -EINVAL;
    n = src->size < sizeof *dst ? src->size : sizeof *dst;
    memcpy(dst, src, n);
    dst->size = sizeof *dst;
    return 0;
}

static bool seconds_ok(double v)
{
    /* < 0 means "the default"; NaN and absurd values are errors */
    return !isnan(v) && v <= 86400. * 365;
}

static bool has_transport(const anysock_connect_opts *o)
{
    return (o->flags & ~ANYSOCK_CONNECT_NOSRV) != 0 || o->keepalive != 0 ||
           o->keepidle != 0 || o->keepintvl != 0 || o->keepcnt != 0 ||
           o->user_timeout_ms != 0 || o->bind_addr != NULL ||
           o->interface != NULL;
}

/* The transport options in one block with their strings, for every
 * attempt after the start call has returned. */
static anysock_connect_opts *keep_transport(const anysock_connect_opts *o)
{
    size_t bl = o->bind_addr ? strlen(o->bind_addr) + 1 : 0;
    size_t il = o->interface ? strlen(o->interface) + 1 : 0;
    anysock_connect_opts *k = anysock__malloc(sizeof *k + bl + il);
    char *p;

    if (k == NULL)
        return NULL;
    *k = *o;
    p = (char *)(k + 1);
    k->trace = NULL;
    k->protocols = NULL;
    if (bl) {
        memcpy(p, o->bind_addr, bl);
        k->bind_addr = p;
        p += bl;
    }
    if (il) {
        memcpy(p, o->interface, il);
        k->interface = p;
    }
    return k;
}

int anysock_tcp_connect_ex(anysock_ctx *ctx, const char *host,
                           const char *service,
                           const anysock_connect_opts *opts,
                           anysock_connect_cb connect_cb,
                           anysock_prepare_cb prepare_cb, void *data,
                           anysock_guard **guard)
{
    anysock_connect_opts o;
    anysock_target lit;
    int v4, v6, pref, fam, rc;
    double delay, rdelay;
    conn *c;

    if (ctx == NULL || connect_cb == NULL || host == NULL ||
        service == NULL)
        return -EINVAL;
    if (anysock__connect_opts_copy(&o, opts) < 0 || !seconds_ok(o.deadline) ||
        !seconds_ok(o.attempt_delay) || !seconds_ok(o.resolution_delay) ||
        o.first_family_count < 0 ||
        (o.family != 0 && o.family != 4 && o.family != 6))
        return -EINVAL;
    if (has_transport(&o) && (rc = anysock__connect_opts_check(&o)) < 0)
        return rc;
    /* families: the context's, narrowed by the call's protocols/family */
    v4 = ctx->pref_ipv4;
    v6 = ctx->pref_ipv6;
    if (o.protocols != NULL) {
        int p4, p6;

        if (anysock__parse_protocols(o.protocols, &p4, &p6) < 0)
            return -EINVAL;
        v4 = v4 && p4 ? p4 : 0;
        v6 = v6 && p6 ? p6 : 0;
    }
    if (o.family == 4)
        v6 = 0;
    if (o.family == 6)
        v4 = 0;
    pref = v6 > v4 ? AF_INET6 : AF_INET;
    fam = v4 && !v6 ? 4 : v6 && !v4 ? 6 : 0;
    delay = o.attempt_delay >= 0. ? o.attempt_delay : ctx->connect_delay;
    rdelay = o.resolution_delay >= 0. ? o.resolution_delay
                                      : ANYSOCK_RESOLUTION_DELAY_DEFAULT;

    c = anysock__calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->op.cancel = conn_cancel;
    c->op.kind = ANYSOCK__OP_CONNECT;
    c->ctx = ctx;
    c->connect_cb = connect_cb;
    c->prepare_cb = prepare_cb;
    c->data = data;
    c->has_guard = guard != NULL;
    c->state = S_RUNNING;
    ev_timer_init(&c->timer, timer_cb, 0., 0.);
    if (o.trace != NULL || has_transport(&o)) {
        if (get_extra(c) == NULL ||
            (has_transport(&o) &&
             (c->x->topts = keep_transport(&o)) == NULL)) {
            conn_free(c);
            return -ENOMEM;
        }
        c->x->trace = o.trace;
        c->x->trace_data = o.trace_data;
    }
    /* the deadline counts from this call, not from the loop's last
     * wake-up, which may be long ago if the caller was busy */
    if (o.deadline > 0.)
        ev_now_update(ctx->loop);
    c->t0 = ev_now(c->ctx->loop);
    anysock__he_init(&c->he, c->t0, delay, rdelay, o.deadline, pref,
                     v4 && v6, o.first_family_count, &c->one_e, 1);
    if (v4 == 0 && v6 == 0) {
        /* nothing allowed: no target, reported from the loop */
        anysock__he_done(&c->he, c->t0, -ENXIO);
        kick(c);
    } else if (anysock__resolve_literal(ctx, host, service, &lit) &&
               family_allowed(c, lit.family, v4, v6)) {
        /* nothing to look up: no resolver op, start from the loop */
        if ((rc = add_target(c, &lit, 0)) < 0) {
            conn_free(c);
            return rc;
        }
        anysock__he_answer(&c->he, c->t0, lit.family, 0, 1, 1, 0);
        anysock__he_done(&c->he, c->t0, 0);
        kick(c);
    } else {
        c->starting = true;
        c->busy = 1;
        rc = anysock__resolve_stream(ctx, host, service, fam,
                                     !(o.flags & ANYSOCK_CONNECT_NOSRV),
                                     rs_cb, c, &c->rs);
        c->starting = false;
        c->busy = 0;
        if (rc < 0) {
            conn_free(c);
            return rc;
        }
        kick(c);   /* arms the deadline, if any */
    }
    /* Linked after the resolver's op, so it sits nearer the list head and
     * anysock_ctx_free cancels it (and through it the lookup) first. */
    anysock__op_link(ctx, &c->op);
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&c->op;
    return 0;
}

int anysock_tcp_connect(anysock_ctx *ctx, const char *host,
                        const char *service, anysock_connect_cb connect_cb,
                        anysock_prepare_cb prepare_cb, void *data,
                        anysock_guard **guard)
{
    return anysock_tcp_connect_ex(ctx, host, service, NULL, connect_cb,
                                  prepare_cb, data, guard);
}

int anysock_tcp_connect_retry(anysock_guard *guard)
{
    conn *c = (conn *)(void *)guard;

    if (c == NULL || c->op.cancel != conn_cancel || c->cancelled ||
        c->state != S_CONNECTED)
        return -EINVAL;
    anysock__he_retry(&c->he, now_of(c));
    /* every connection rejected and nothing failed: say so, since
     * -ENXIO means "resolution gave no target" */
    if (c->he.last_err == 0)
        c->he.last_err = -ECONNABORTED;
    c->state = S_RUNNING;
    c->op.finished = false;
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
