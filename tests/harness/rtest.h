/* Helpers shared by the resolver tests: driving a loop with a bound,
 * recording callbacks, counting fds, finding the dnsmasq fixture. */
#ifndef RTEST_H
#define RTEST_H

#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anysock.h"
#include "nettest.h"

#define RT_MAXT 32

struct rec {
    int calls;
    int status;
    size_t n;
    anysock_target t[RT_MAXT];
    anysock_addr a[RT_MAXT];
    bool returned;        /* set by the test once the start call returned */
    bool early;           /* a callback ran before that */
    anysock_guard *guard; /* when the test keeps one */
};

/* What every recording callback notes before copying its results. */
static inline struct rec *rec_note(void *data, int status, size_t n)
{
    struct rec *r = data;

    if (!r->returned)
        r->early = true;
    r->calls++;
    r->status = status;
    r->n = n;
    return r;
}

static inline void rec_resolve_cb(void *data, int status,
                                  const anysock_target *t, size_t n)
{
    struct rec *r = rec_note(data, status, n);

    for (size_t i = 0; i < n && i < RT_MAXT; i++)
        r->t[i] = t[i];
}

static inline void rec_aton_cb(void *data, int status, const anysock_addr *a,
                               size_t n)
{
    struct rec *r = rec_note(data, status, n);

    for (size_t i = 0; i < n && i < RT_MAXT; i++)
        r->a[i] = a[i];
}

/* "inet 127.0.0.1 80", "inet6 ::1 80", "unix /path" */
static inline void target_str(const anysock_target *t, char *out,
                              size_t outlen)
{
    anysock_addr a;
    uint16_t port = 0;
    const char *path = NULL;
    size_t pathlen = 0;
    char host[ANYSOCK_ADDRESS_STRLEN] = "?";

    if (anysock_unpack_sockaddr(&t->addr.u.sa, t->addr.len, &a, &port, &path,
                                &pathlen) == 0)
        anysock_format_address(&a, host, sizeof host);
    if (t->family == AF_UNIX)
        snprintf(out, outlen, "unix %.*s", (int)pathlen, path);
    else
        snprintf(out, outlen, "%s %s %u",
                 t->family == AF_INET ? "inet" : "inet6", host,
                 (unsigned)port);
}

/* All targets joined with ", ". */
static inline const char *rec_str(const struct rec *r, char *buf,
                                  size_t buflen)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < r->n && i < RT_MAXT; i++) {
        char one[128];

        target_str(&r->t[i], one, sizeof one);
        off += (size_t)snprintf(buf + off, buflen - off, "%s%s",
                                i ? ", " : "", one);
        if (off >= buflen)
            break;
    }
    return buf;
}

static inline int count_fds(void)
{
    return nt_count_fds();
}

static void rt_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until *done (a counter) reaches want or `secs` pass.
 * Returns true when it got there in time. */
static inline bool run_until(struct ev_loop *loop, const int *done, int want,
                             double secs)
{
    ev_timer t;
    bool expired = false;

    ev_timer_init(&t, rt_timeout_cb, secs, 0.);
    t.data = &expired;
    ev_timer_start(loop, &t);
    ev_unref(loop);   /* the bound alone must not keep the loop alive */
    while (*done < want && !expired)
        if (!ev_run(loop, EVRUN_ONCE))
            break;
    ev_ref(loop);
    ev_timer_stop(loop, &t);
    return *done >= want;
}

/* Run for `secs` (or until nothing is left active). */
static inline void run_for(struct ev_loop *loop, double secs)
{
    static const int never = 0;

    (void)run_until(loop, &never, 1, secs);
}

/* True when a plain ev_run returns by itself within `secs`: nothing of
 * ours is left active. */
static inline bool loop_drains(struct ev_loop *loop, double secs)
{
    ev_timer t;
    bool expired = false;

    ev_timer_init(&t, rt_timeout_cb, secs, 0.);
    t.data = &expired;
    ev_timer_start(loop, &t);
    ev_unref(loop);
    ev_run(loop, 0);
    ev_ref(loop);
    ev_timer_stop(loop, &t);
    return !expired;
}

/* The dnsmasq fixture's port, or 0 when it is not running. */
static inline int dnsmasq_port(void)
{
    const char *dir = getenv("ANYSOCK_DNSMASQ_DIR");
    char path[512];
    FILE *f;
    int port = 0;

    snprintf(path, sizeof path, "%s/dnsmasq.port",
             dir ? dir : ANYSOCK_BINARY_DIR "/dnsmasq");
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%d", &port) != 1)
        port = 0;
    fclose(f);
    return port;
}

#endif
