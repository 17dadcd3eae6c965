/* TCP workloads: accept-64, connect-64, connect-memory, accept-allocs.
 * Loopback only (127.0.0.1). The load generator or raw server runs in a
 * forked child pinned to the other CPU. */
#include "bench.h"

#include "anysock.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define INFLIGHT 64
#define BACKLOG 1024
#define ROUND_TIMEOUT 30.0 /* seconds: a round that stalls this long fails */

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

/* A non-blocking listener on 127.0.0.1:0; sets *port. */
static int raw_listen(int backlog, unsigned *port)
{
    struct sockaddr_in sin = loopback(0);
    socklen_t len = sizeof sin;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Close with RST: the client of connect-64 leaves no TIME_WAIT behind, so
 * tens of thousands of connections a round do not exhaust its ports. */
static void close_reset(int fd)
{
    struct linger l = { 1, 0 };

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static bool write_all(int fd, const void *p, size_t n)
{
    return write(fd, p, n) == (ssize_t)n;
}

static bool read_all(int fd, void *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return false;
        }
        got += (size_t)r;
    }
    return true;
}

/* ---- accept-64: the load generator (child process) ---------------------- */

typedef struct load_cmd {
    unsigned port;
    long count;
} load_cmd;

/* Keep INFLIGHT connections in flight to port; each waits for the
 * server's close (EOF) before it is closed and replaced, so the server's
 * accept rate bounds the whole loop. Returns the failures. */
static long load_run(int ep, const load_cmd *cmd)
{
    struct sockaddr_in sin = loopback(cmd->port);
    struct epoll_event evs[INFLIGHT];
    long started = 0, done = 0, failed = 0;
    int live = 0;

    while (done < cmd->count) {
        while (live < INFLIGHT && started < cmd->count) {
            int fd = socket(AF_INET,
                            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

            started++;
            if (fd < 0 || (connect(fd, (struct sockaddr *)&sin, sizeof sin)
                           < 0 && errno != EINPROGRESS)) {
                if (fd >= 0)
                    close(fd);
                failed++;
                done++;
                continue;
            }
            ev.data.fd = fd;
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            live++;
        }
        if (live == 0)
            continue;
        int n = epoll_wait(ep, evs, INFLIGHT, 10000);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;   /* the server stopped accepting */
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].events & EPOLLERR)
                failed++;
            close(evs[i].data.fd); /* also drops it from the epoll set */
            live--;
            done++;
        }
    }
    return failed;
}

static void load_child(int ctl, int cpu)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    load_cmd cmd;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    bench_pin(cpu);
    while (read_all(ctl, &cmd, sizeof cmd)) {
        long failed = load_run(ep, &cmd);
        if (!write_all(ctl, &failed, sizeof failed))
            break;
    }
    _exit(0);
}

typedef struct accept_env {
    int ctl;               /* socketpair to the load generator */
    pid_t child;
    long count;            /* connections per round */
    struct ev_loop *loop;
    anysock_ctx *ctx;
    bool count_allocs;     /* accept-allocs: count the server's mallocs */
    bench_alloc_stats allocs;
    double cpu_us;         /* the last round's server CPU per connection */
} accept_env;

/* Send the round's order; the caller then accepts count connections. */
static bool load_go(accept_env *e, unsigned port)
{
    load_cmd cmd = { port, e->count };

    return write_all(e->ctl, &cmd, sizeof cmd);
}

static bool load_wait(accept_env *e)
{
    long failed;

    return read_all(e->ctl, &failed, sizeof failed) && failed == 0;
}

/* ---- accept-64: servers -------------------------------------------------- */

typedef struct ours_srv {
    accept_env *e;
    long accepted;
    unsigned port;
    ev_timer timeout;
} ours_srv;

static void ours_accept_cb(void *data, int status, int fd, const char *host,
                           unsigned port)
{
    ours_srv *s = data;

    (void)host;
    (void)port;
    if (status < 0)
        return;
    close(fd);
    if (++s->accepted == s->e->count)
        ev_break(s->e->loop, EVBREAK_ONE);
}

static int ours_prepare_cb(void *data, int fd, const char *host,
                           unsigned port)
{
    ours_srv *s = data;

    (void)fd;
    (void)host;
    s->port = port;
    return BACKLOG;
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

static double accept_ours(void *arg)
{
    accept_env *e = arg;
    ours_srv s = { .e = e };
    anysock_guard *g = NULL;
    double t0, t, c0;
    bool ok;

    if (anysock_tcp_server(e->ctx, "127.0.0.1", "0", ours_accept_cb,
                           ours_prepare_cb, &s, &g) < 0)
        return -1;
    ev_timer_init(&s.timeout, timeout_cb, ROUND_TIMEOUT, 0.);
    ev_timer_start(e->loop, &s.timeout);
    t0 = bench_now();
    c0 = bench_cpu();
    if (e->count_allocs)
        bench_alloc_start();
    ok = load_go(e, s.port);
    if (ok)
        ev_run(e->loop, 0);
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    if (e->count_allocs)
        bench_alloc_stop(&e->allocs);
    ev_timer_stop(e->loop, &s.timeout);
    anysock_guard_cancel(&g);
    ok = ok && load_wait(e) && s.accepted == e->count;
    return ok ? (double)e->count / t : -1;
}

static double accept_raw(void *arg)
{
    accept_env *e = arg;
    struct epoll_event ev = { .events = EPOLLIN }, evs[4];
    unsigned port;
    long accepted = 0;
    int lfd = raw_listen(BACKLOG, &port), ep;
    double t0, t, c0;
    bool ok;

    if (lfd < 0)
        return -1;
    ep = epoll_create1(EPOLL_CLOEXEC);
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    t0 = bench_now();
    c0 = bench_cpu();
    ok = load_go(e, port);
    while (ok && accepted < e->count) {
        int n = epoll_wait(ep, evs, 4, (int)(ROUND_TIMEOUT * 1000));
        if (n == 0)
            ok = false;
        for (int i = 0; i < n; i++) {
            int fd;
            while ((fd = accept4(lfd, NULL, NULL,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                close(fd);
                accepted++;
            }
        }
    }
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    close(ep);
    close(lfd);
    ok = load_wait(e) && ok;
    return ok ? (double)e->count / t : -1;
}

/* libuv needs an initialised handle per accepted connection; a free list
 * keeps malloc out of the measured loop, as a tuned server would. */
typedef struct uv_srv {
    uv_tcp_t server;
    uv_tcp_t pool[BACKLOG];
    uv_tcp_t *free_list[BACKLOG];
    int nfree;
    long accepted, count;
} uv_srv;

static void uv_client_closed(uv_handle_t *h)
{
    uv_srv *s = h->loop->data;

    s->free_list[s->nfree++] = (uv_tcp_t *)h;
}

static void uv_on_conn(uv_stream_t *server, int status)
{
    uv_srv *s = server->loop->data;
    uv_tcp_t *c;

    if (status < 0 || s->nfree == 0)
        return;
    c = s->free_list[--s->nfree];
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) == 0)
        s->accepted++;
    uv_close((uv_handle_t *)c, uv_client_closed);
    if (s->accepted == s->count)
        uv_stop(server->loop);
}

static void uv_timeout(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static double accept_libuv(void *arg)
{
    accept_env *e = arg;
    uv_loop_t loop;
    uv_timer_t timer;
    uv_srv *s = calloc(1, sizeof *s);
    struct sockaddr_in sin = loopback(0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    double t0, t, c0;
    bool ok;

    if (s == NULL || uv_loop_init(&loop) != 0) {
        free(s);
        return -1;
    }
    loop.data = s;
    s->count = e->count;
    for (int i = 0; i < BACKLOG; i++)
        s->free_list[s->nfree++] = &s->pool[i];
    uv_tcp_init(&loop, &s->server);
    ok = uv_tcp_bind(&s->server, (struct sockaddr *)&sin, 0) == 0 &&
         uv_listen((uv_stream_t *)&s->server, BACKLOG, uv_on_conn) == 0 &&
         uv_tcp_getsockname(&s->server, (struct sockaddr *)&ss, &len) == 0;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, uv_timeout, (uint64_t)(ROUND_TIMEOUT * 1000), 0);
    t0 = bench_now();
    c0 = bench_cpu();
    if (ok)
        ok = load_go(e, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    if (ok)
        uv_run(&loop, UV_RUN_DEFAULT);
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    uv_close((uv_handle_t *)&s->server, NULL);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    ok = ok && load_wait(e) && s->accepted == e->count;
    free(s);
    return ok ? (double)e->count / t : -1;
}

static bool accept_env_init(accept_env *e, const bench_opts *o, long count)
{
    int sv[2];

    memset(e, 0, sizeof *e);
    e->count = count;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return false;
    fflush(stdout);
    e->child = fork();
    if (e->child == 0) {
        close(sv[0]);
        load_child(sv[1], o->cpu_server);
    }
    close(sv[1]);
    e->ctl = sv[0];
    if (e->child < 0) {
        close(e->ctl);
        return false;
    }
    e->loop = ev_loop_new(EVBACKEND_EPOLL);
    if (anysock_ctx_new(e->loop, NULL, &e->ctx) < 0)
        e->ctx = NULL;
    return true;
}

static void accept_env_fini(accept_env *e)
{
    close(e->ctl);   /* the child sees EOF and exits */
    waitpid(e->child, NULL, 0);
    anysock_ctx_free(e->ctx);
    ev_loop_destroy(e->loop);
}

/* ---- connect-64: a raw accept-and-close server in a child ---------------- */

static void raw_server_child(int lfd, int cpu)
{
    struct epoll_event ev = { .events = EPOLLIN }, evs[4];
    int ep = epoll_create1(EPOLL_CLOEXEC);

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    bench_pin(cpu);
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int fd, n = epoll_wait(ep, evs, 4, -1);
        for (int i = 0; i < n; i++)
            while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
                close(fd);
    }
}

typedef struct connect_env {
    unsigned port;
    char portstr[8];
    long count;
    struct ev_loop *loop;
    anysock_ctx *ctx;
    double cpu_us;           /* the last round's client CPU per connection */
} connect_env;

typedef struct ours_cli {
    connect_env *e;
    long started, done, failed;
} ours_cli;

static void ours_connect_start(ours_cli *c);

static void ours_connect_cb(void *data, int status, int fd, const char *host,
                            unsigned port)
{
    ours_cli *c = data;

    (void)host;
    (void)port;
    if (status == 0)
        close_reset(fd);
    else
        c->failed++;
    if (++c->done == c->e->count)
        ev_break(c->e->loop, EVBREAK_ONE);
    else if (c->started < c->e->count)
        ours_connect_start(c);
}

static void ours_connect_start(ours_cli *c)
{
    c->started++;
    if (anysock_tcp_connect(c->e->ctx, "127.0.0.1", c->e->portstr,
                            ours_connect_cb, NULL, c, NULL) < 0) {
        c->failed++;
        c->done++;
    }
}

static double connect_ours(void *arg)
{
    connect_env *e = arg;
    ours_cli c = { .e = e };
    ev_timer timer;
    double t0 = bench_now(), t, c0 = bench_cpu();

    ev_timer_init(&timer, timeout_cb, ROUND_TIMEOUT, 0.);
    ev_timer_start(e->loop, &timer);
    for (int i = 0; i < INFLIGHT && c.started < e->count; i++)
        ours_connect_start(&c);
    ev_run(e->loop, 0);
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    ev_timer_stop(e->loop, &timer);
    return c.done == e->count && c.failed == 0 ? (double)e->count / t : -1;
}

static int raw_connect_start(int ep, const struct sockaddr_in *sin)
{
    struct epoll_event ev = { .events = EPOLLOUT };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) < 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static double connect_raw(void *arg)
{
    connect_env *e = arg;
    struct sockaddr_in sin = loopback(e->port);
    struct epoll_event evs[INFLIGHT];
    long started = 0, done = 0, failed = 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    double t0 = bench_now(), t, c0 = bench_cpu();

    for (; started < INFLIGHT && started < e->count; started++)
        if (raw_connect_start(ep, &sin) < 0) {
            failed++;
            done++;
        }
    while (done < e->count) {
        int n = epoll_wait(ep, evs, INFLIGHT, (int)(ROUND_TIMEOUT * 1000));
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd, err = 0;
            socklen_t len = sizeof err;

            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err)
                failed++;
            close_reset(fd);
            done++;
            if (started < e->count) {
                started++;
                if (raw_connect_start(ep, &sin) < 0) {
                    failed++;
                    done++;
                }
            }
        }
    }
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    close(ep);
    return done == e->count && failed == 0 ? (double)e->count / t : -1;
}

typedef struct uv_cli {
    uv_tcp_t tcp[INFLIGHT];
    uv_connect_t req[INFLIGHT];
    struct sockaddr_in sin;
    uv_loop_t *loop;
    long started, done, failed, count;
} uv_cli;

static void uv_cli_start(uv_cli *c, int i);

static void uv_cli_closed(uv_handle_t *h)
{
    uv_cli *c = h->loop->data;
    int i = (int)((uv_tcp_t *)h - c->tcp);

    if (++c->done == c->count)
        uv_stop(h->loop);
    else if (c->started < c->count)
        uv_cli_start(c, i);
}

static void uv_cli_connected(uv_connect_t *req, int status)
{
    uv_cli *c = req->handle->loop->data;

    if (status < 0) {
        c->failed++;
        uv_close((uv_handle_t *)req->handle, uv_cli_closed);
        return;
    }
    uv_tcp_close_reset((uv_tcp_t *)req->handle, uv_cli_closed);
}

static void uv_cli_start(uv_cli *c, int i)
{
    c->started++;
    uv_tcp_init(c->loop, &c->tcp[i]);
    uv_tcp_connect(&c->req[i], &c->tcp[i], (struct sockaddr *)&c->sin,
                   uv_cli_connected);
}

static double connect_libuv(void *arg)
{
    connect_env *e = arg;
    uv_loop_t loop;
    uv_timer_t timer;
    uv_cli *c = calloc(1, sizeof *c);
    double t0, t, c0;
    bool ok;

    if (c == NULL || uv_loop_init(&loop) != 0) {
        free(c);
        return -1;
    }
    loop.data = c;
    c->sin = loopback(e->port);
    c->count = e->count;
    c->loop = &loop;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, uv_timeout, (uint64_t)(ROUND_TIMEOUT * 1000), 0);
    uv_unref((uv_handle_t *)&timer);
    t0 = bench_now();
    c0 = bench_cpu();
    for (int i = 0; i < INFLIGHT && c->started < c->count; i++)
        uv_cli_start(c, i);
    uv_run(&loop, UV_RUN_DEFAULT);
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    ok = c->done == c->count && c->failed == 0;
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(c);
    return ok ? (double)e->count / t : -1;
}

/* ---- connect-memory: heap per pending connect ---------------------------- */

#define PENDING 256

typedef struct mem_env {
    unsigned port;           /* a blackhole: accept queue full */
    char portstr[8];
    struct ev_loop *loop;
    anysock_ctx *ctx;
    int prepared;
} mem_env;

static double mem_prepare_cb(void *data, int fd)
{
    mem_env *m = data;

    (void)fd;
    m->prepared++;
    return 0.;
}

static void mem_connect_cb(void *data, int status, int fd, const char *host,
                           unsigned port)
{
    (void)data;
    (void)host;
    (void)port;
    if (status == 0)
        close(fd);   /* not expected: the blackhole answers nobody */
}

/* Live heap bytes per connect once all PENDING sit in SYN-SENT. */
static double mem_ours(void *arg)
{
    mem_env *m = arg;
    anysock_guard **g = calloc(PENDING, sizeof *g);
    bench_alloc_stats st;
    int started = 0;

    if (g == NULL)
        return -1;
    m->prepared = 0;
    bench_alloc_start();
    for (int i = 0; i < PENDING; i++)
        if (anysock_tcp_connect(m->ctx, "127.0.0.1", m->portstr,
                                mem_connect_cb, mem_prepare_cb, m, &g[i]) == 0)
            started++;
    /* bounded: each iteration either starts attempts or nothing is left */
    for (int i = 0; i < 100 && m->prepared < started; i++)
        ev_run(m->loop, EVRUN_NOWAIT);
    bench_alloc_stop(&st);
    for (int i = 0; i < PENDING; i++)
        anysock_guard_cancel(&g[i]);
    free(g);
    if (started != PENDING || m->prepared != PENDING)
        return -1;
    return (double)st.live / PENDING;
}

static void mem_uv_closed(uv_handle_t *h)
{
    free(h);
}

static void mem_uv_connected(uv_connect_t *req, int status)
{
    /* only on close (UV_ECANCELED): the blackhole never answers */
    (void)status;
    free(req);
}

static double mem_libuv(void *arg)
{
    mem_env *m = arg;
    uv_loop_t *loop = malloc(sizeof *loop);
    uv_tcp_t **h = calloc(PENDING, sizeof *h);
    struct sockaddr_in sin = loopback(m->port);
    bench_alloc_stats st;
    int started = 0;

    if (loop == NULL || h == NULL || uv_loop_init(loop) != 0) {
        free(loop);
        free(h);
        return -1;
    }
    /* warm: the loop's own first-use allocations are not per connect */
    uv_run(loop, UV_RUN_NOWAIT);
    bench_alloc_start();
    for (int i = 0; i < PENDING; i++) {
        uv_connect_t *req = malloc(sizeof *req);

        h[i] = malloc(sizeof *h[i]);
        if (req == NULL || h[i] == NULL) {
            free(req);
            break;
        }
        uv_tcp_init(loop, h[i]);
        if (uv_tcp_connect(req, h[i], (struct sockaddr *)&sin,
                           mem_uv_connected) == 0)
            started++;
        else
            free(req);
    }
    uv_run(loop, UV_RUN_NOWAIT);
    bench_alloc_stop(&st);
    for (int i = 0; i < PENDING; i++)
        if (h[i])
            uv_close((uv_handle_t *)h[i], mem_uv_closed);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    free(loop);
    free(h);
    return started == PENDING ? (double)st.live / PENDING : -1;
}

/* ---- the workloads ------------------------------------------------------- */

static double accept_allocs_ours(void *arg)
{
    accept_env *e = arg;
    double r;

    e->count_allocs = true;
    r = accept_ours(e);
    e->count_allocs = false;
    return r < 0 ? -1 : (double)e->allocs.calls / (double)e->count;
}

static double zero(void *arg)
{
    (void)arg;
    return 0;
}

/* accept-64 and connect-64 with their CPU rows; `sfx` names the variant
 * ("" for the wide port range, "-defports" for the default one). */
static void tcp_rows(const bench_opts *o, long count, const char *sfx,
                     const char *range, bool allocs)
{
    char w64[40], wcpu[40], note[160];

    snprintf(note, sizeof note, "ephemeral ports %s", range);
    snprintf(w64, sizeof w64, "accept-64%s", sfx);
    snprintf(wcpu, sizeof wcpu, "accept-cpu%s", sfx);
    if (bench_want(o, w64) || (allocs && bench_want(o, "accept-allocs"))) {
        accept_env e;

        if (!accept_env_init(&e, o, count)) {
            perror("anysock-bench: load generator");
            return;
        }
        const char *skip = e.ctx ? NULL : "anysock_ctx_new failed";
        const char *nocount = bench_alloc_available() ? skip :
            "malloc counting needs a build without sanitizers";
        if (bench_want(o, w64)) {
            bench_side s[] = {
                { "ours", accept_ours, &e, skip, &e.cpu_us },
                { "raw-epoll", accept_raw, &e, NULL, &e.cpu_us },
                { "libuv", accept_libuv, &e, NULL, &e.cpu_us },
            };
            bench_compare_cpu(o, w64, "conn/s", true, s, 3, note, wcpu,
                              "conn", "CPU time of the server process "
                              "(the side under test) per connection");
        }
        if (allocs && bench_want(o, "accept-allocs")) {
            bench_side s[] = {
                { "ours", accept_allocs_ours, &e, nocount, NULL },
                { "zero", zero, NULL, NULL, NULL },
            };
            bench_compare(o, "accept-allocs", "allocs/conn", false, s, 2,
                          "every malloc in the server process while it "
                          "accepts, divided by the connections");
        }
        accept_env_fini(&e);
    }

    snprintf(w64, sizeof w64, "connect-64%s", sfx);
    snprintf(wcpu, sizeof wcpu, "connect-cpu%s", sfx);
    if (bench_want(o, w64)) {
        connect_env e = { .count = count };
        int lfd = raw_listen(4096, &e.port);
        pid_t child;

        if (lfd < 0)
            return;
        fflush(stdout);
        child = fork();
        if (child == 0)
            raw_server_child(lfd, o->cpu_server);
        close(lfd);
        snprintf(e.portstr, sizeof e.portstr, "%u", e.port);
        e.loop = ev_loop_new(EVBACKEND_EPOLL);
        if (anysock_ctx_new(e.loop, NULL, &e.ctx) < 0)
            e.ctx = NULL;
        bench_side s[] = {
            { "ours", connect_ours, &e, e.ctx ? NULL : "no ctx", &e.cpu_us },
            { "raw-epoll", connect_raw, &e, NULL, &e.cpu_us },
            { "libuv", connect_libuv, &e, NULL, &e.cpu_us },
        };
        bench_compare_cpu(o, w64, "conn/s", true, s, 3, note, wcpu, "conn",
                          "CPU time of the client process (the side under "
                          "test) per connection");
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        anysock_ctx_free(e.ctx);
        ev_loop_destroy(e.loop);
    }
}

void bench_tcp(const bench_opts *o)
{
    /* 10000 a round is plenty with a wide port range (the first round
     * needed 20000 to average over the port search) */
    long count = o->quick ? 10000 : 50000;
    char why[160], range[200];
    bench_opts few = *o;

    if (!(bench_want(o, "accept-64") || bench_want(o, "accept-allocs") ||
          bench_want(o, "connect-64") || bench_want(o, "connect-memory") ||
          bench_want(o, "accept-64-defports") ||
          bench_want(o, "connect-64-defports")))
        return;
    /* Each variant in a fresh network namespace: no TIME_WAIT left over
     * from the one before, and its own ip_local_port_range. A wide range
     * keeps the kernel's ephemeral port search out of the figures. */
    if (bench_new_netns("1024 65535", why, sizeof why))
        snprintf(range, sizeof range, "1024-65535 (the bench's netns)");
    else
        snprintf(range, sizeof range, "the host's (%s)", why);
    tcp_rows(o, count, "", range, true);
    /* the default range, as an extra row: fewer rounds keep it short */
    if (few.rounds > 5)
        few.rounds = 5;
    if (bench_new_netns(NULL, why, sizeof why)) {
        snprintf(range, sizeof range,
                 "32768-60999 (a fresh netns's default)");
        tcp_rows(&few, count, "-defports", range, false);
    }

    if (bench_want(o, "connect-memory")) {
        mem_env m = { 0 };
        int hole = raw_listen(0, &m.port), fill;
        struct sockaddr_in sin = loopback(0);

        if (hole < 0)
            return;
        sin = loopback(m.port);
        /* backlog 0 queues one connection; once it is queued, further SYNs
         * are dropped and connects stay pending */
        fill = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fill < 0 ||
            connect(fill, (struct sockaddr *)&sin, sizeof sin) < 0) {
            perror("anysock-bench: blackhole");
            close(hole);
            return;
        }
        snprintf(m.portstr, sizeof m.portstr, "%u", m.port);
        m.loop = ev_loop_new(EVBACKEND_EPOLL);
        if (anysock_ctx_new(m.loop, NULL, &m.ctx) < 0)
            m.ctx = NULL;
        /* warm both: arrays indexed by fd grow once, not per connect */
        if (m.ctx)
            mem_ours(&m);
        mem_libuv(&m);
        const char *nocount = bench_alloc_available() ? NULL :
            "malloc counting needs a build without sanitizers";
        bench_side s[] = {
            { "ours", mem_ours, &m, m.ctx ? nocount : "no ctx", NULL },
            { "libuv", mem_libuv, &m, nocount, NULL },
        };
        bench_compare(o, "connect-memory", "bytes", false, s, 2,
                      "live heap (usable size) per connect in SYN-SENT; "
                      "libuv counts its uv_tcp_t + uv_connect_t");
        anysock_ctx_free(m.ctx);
        ev_loop_destroy(m.loop);
        close(fill);
        close(hole);
    }
}
