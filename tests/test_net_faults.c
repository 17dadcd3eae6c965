/* Faults at the connection layer: peers that reset at once, cancellation
 * at every stage of tcp_connect, accept() errors injected into the server
 * (link-time wrap of anysock__accept), clients that vanish before they are
 * accepted, thousands of pending connections at cancel, a real EMFILE
 * storm, and unix socket paths the process may not touch. Every test ends
 * with the process's fd count back where it started. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>

#include "internal.h"
#include "harness/nettest.h"
#include "harness/fakedns_group.h"

/* ---- accept() fault injection ------------------------------------------ */

int __real_anysock__accept(int fd, struct sockaddr *sa, socklen_t *len);
int __wrap_anysock__accept(int fd, struct sockaddr *sa, socklen_t *len);

/* A runaway server would never return to the loop while the fault lasts;
 * past this many calls the fault switches itself off so the test fails
 * with a message instead of hanging. */
#define RUNAWAY_CALLS 100000L

static struct {
    int err;          /* negated errno to return; 0: the real accept */
    /* true: a pending connection is dequeued and lost first, as the
     * kernel does for ECONNABORTED; with none pending the real EAGAIN is
     * returned. false: nothing is dequeued (EMFILE, ENFILE, ENOBUFS,
     * ENOMEM, and an LSM's EPERM, all checked before the queue). */
    bool consume;
    long calls;       /* every call since the test reset it */
    long faults;      /* calls that returned err */
    long run;         /* faults since the last real accept */
    bool runaway;
} inj;

int __wrap_anysock__accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    int cfd;

    inj.calls++;
    if (inj.err != 0 && ++inj.run > RUNAWAY_CALLS) {
        inj.runaway = true;
        inj.err = 0;
    }
    if (inj.err == 0) {
        inj.run = 0;
        return __real_anysock__accept(fd, sa, len);
    }
    if (inj.consume) {
        cfd = __real_anysock__accept(fd, NULL, NULL);
        if (cfd < 0)
            return cfd;
        close(cfd);
    }
    inj.faults++;
    return inj.err;
}

static void inj_reset(void)
{
    memset(&inj, 0, sizeof inj);
}

/* ---- shared helpers ------------------------------------------------------ */

static int group_setup(void **state)
{
    struct rlimit rl;

    /* the pending-connections test holds a few thousand client fds */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192 &&
        rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    return fakedns_group_setup(state);
}

static void run_for(struct ev_loop *loop, double secs)
{
    bool never = false;

    (void)nt_run_until(loop, &never, secs);
}

static char *port_str(unsigned port, char buf[8])
{
    snprintf(buf, 8, "%u", port);
    return buf;
}

/* An fd handed out by the library: open, a connected stream socket (not a
 * listener), non-blocking and close-on-exec. */
static bool accepted_fd_ok(int fd)
{
    int type = 0, acc = 1;
    socklen_t len = sizeof type;

    if (fd < 0 || !nt_fd_flags_ok(fd))
        return false;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != SOCK_STREAM)
        return false;
    len = sizeof acc;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == 0 &&
           acc == 0;
}

/* What a client sees without waiting: 'r' reset, 'e' EOF, 'd' data,
 * 'w' nothing yet (it would block), 'x' another error. */
static char peek_state(int fd, int wait_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char b;
    ssize_t n;

    (void)poll(&p, 1, wait_ms);
    n = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n > 0)
        return 'd';
    if (n == 0)
        return 'e';
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 'w';
    return errno == ECONNRESET ? 'r' : 'x';
}

/* Close with an RST instead of a FIN. */
static void close_rst(int fd)
{
    struct linger lg = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

typedef struct base {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    anysock_guard *guard;
    char *hosts;
    int fds_before;
} base;

static int make_ctx(base *b, const char *hosts, double delay)
{
    return nt_make_ctx(b->loop, dns_server, hosts, delay, &b->ctx, &b->hosts);
}

static void base_init(base *b)
{
    memset(b, 0, sizeof *b);
    b->fds_before = nt_count_fds();
    b->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(b->loop);
    assert_int_equal(make_ctx(b, NULL, -1.), 0);
    inj_reset();
}

/* Everything cancelled, nothing left on the loop, fd count back. */
static void base_done(base *b)
{
    anysock_guard_cancel(&b->guard);
    assert_true(nt_loop_idle(b->loop));
    anysock_ctx_free(b->ctx);
    ev_loop_destroy(b->loop);
    if (b->hosts != NULL) {
        unlink(b->hosts);
        free(b->hosts);
    }
    assert_int_equal(nt_count_fds(), b->fds_before);
    inj_reset();
}

/* ---- tcp_connect: a peer that resets at once ---------------------------- */

/* A listener that accepts and closes with an RST straight away. */
typedef struct rst_peer {
    ev_io io;             /* first: the watcher is the struct */
    int fd;
    int resets;
    bool reset_done;
} rst_peer;

static void rst_peer_cb(struct ev_loop *loop, ev_io *w, int r)
{
    rst_peer *p = (rst_peer *)(void *)w;
    int c;

    (void)loop;
    (void)r;
    while ((c = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        close_rst(c);
        p->resets++;
        p->reset_done = true;
    }
}

static void rst_peer_start(struct ev_loop *loop, rst_peer *p,
                           const char *addr, unsigned *port, int prio)
{
    memset(p, 0, sizeof *p);
    p->fd = nt_listen(AF_INET, addr, port, 64);
    assert_true(p->fd >= 0);
    assert_int_equal(fcntl(p->fd, F_SETFL, O_NONBLOCK), 0);
    ev_io_init(&p->io, rst_peer_cb, p->fd, EV_READ);
    /* the priority decides whether the reset lands before the attempt's
     * own watcher sees the connection (an error) or after (a success) */
    ev_set_priority(&p->io, prio);
    ev_io_start(loop, &p->io);
}

static void rst_peer_stop(struct ev_loop *loop, rst_peer *p)
{
    ev_io_stop(loop, &p->io);
    close(p->fd);
}

typedef struct cres {
    int calls, status, fd, prepares;
    char host[ANYSOCK_ADDRESS_STRLEN];
    bool done;
} cres;

static void cres_connect(void *data, int status, int fd, const char *host,
                         unsigned port)
{
    cres *r = data;

    (void)port;
    r->calls++;
    r->status = status;
    r->fd = fd;
    r->host[0] = '\0';
    if (status == 0) {
        assert_true(fd >= 0);
        assert_true(nt_fd_flags_ok(fd));
        assert_non_null(host);
        snprintf(r->host, sizeof r->host, "%s", host);
    } else {
        assert_int_equal(fd, -1);
        assert_null(host);
    }
    r->done = true;
}

static double cres_prepare(void *data, int fd)
{
    (void)fd;
    ((cres *)data)->prepares++;
    return 0.;
}

static bool is_reset_error(int status)
{
    return status == -ECONNRESET || status == -ECONNREFUSED ||
           status == -ECONNABORTED || status == -EPIPE;
}

static void test_connect_peer_resets_at_once(void **state)
{
    static const int prios[2] = {EV_MAXPRI, EV_MINPRI};
    int outcome[2][2] = {{0, 0}, {0, 0}};   /* [prio][ok, error] */
    base b;

    (void)state;
    base_init(&b);
    for (int pi = 0; pi < 2; pi++) {
        for (int i = 0; i < 10; i++) {
            rst_peer p;
            unsigned port = 0;
            char ps[8];
            cres r = {.fd = -1};
            int fds;

            rst_peer_start(b.loop, &p, "127.0.0.1", &port, prios[pi]);
            fds = nt_count_fds();
            assert_int_equal(anysock_tcp_connect(b.ctx, "127.0.0.1",
                                                 port_str(port, ps),
                                                 cres_connect, cres_prepare,
                                                 &r, &b.guard), 0);
            assert_true(nt_run_until(b.loop, &r.done, 5.));
            assert_int_equal(r.calls, 1);
            if (r.status == 0) {
                char st;

                /* connected first, reset later: the fd must show it */
                assert_true(nt_run_until(b.loop, &p.reset_done, 5.));
                st = peek_state(r.fd, 1000);
                if (st != 'r' && st != 'e')
                    fail_msg("reset connection reads as '%c'", st);
                close(r.fd);
                outcome[pi][0]++;
            } else {
                if (!is_reset_error(r.status))
                    fail_msg("reset peer gave %s", anysock_strerror(r.status));
                outcome[pi][1]++;
            }
            anysock_guard_cancel(&b.guard);
            /* no second callback, no fd left behind */
            run_for(b.loop, 0.01);
            assert_int_equal(r.calls, 1);
            assert_int_equal(nt_count_fds(), fds);
            rst_peer_stop(b.loop, &p);
        }
    }
    print_message("reset peer: reset first %d ok / %d error; "
                  "connect first %d ok / %d error\n", outcome[0][0],
                  outcome[0][1], outcome[1][0], outcome[1][1]);
    base_done(&b);
}

/* The first target resets, the second listens: exactly one callback, a
 * success, either from the first (connected before the reset) or from the
 * second (the reset failed the first attempt and the next one ran). */
static void test_connect_reset_target_moves_to_next(void **state)
{
    base b;
    rst_peer p;
    unsigned port = 0;
    int l, fds;
    char ps[8];
    int seen2 = 0, seen1 = 0;

    (void)state;
    base_init(&b);
    assert_int_equal(make_ctx(&b, "127.0.0.2 nx.rst.test\n"
                                  "127.0.0.1 nx.rst.test\n", 0.), 0);
    rst_peer_start(b.loop, &p, "127.0.0.2", &port, EV_MAXPRI);
    l = nt_listen(AF_INET, "127.0.0.1", &port, 64);
    assert_true(l >= 0);
    assert_int_equal(fcntl(l, F_SETFL, O_NONBLOCK), 0);
    for (int i = 0; i < 10; i++) {
        cres r = {.fd = -1};

        fds = nt_count_fds();
        assert_int_equal(anysock_tcp_connect(b.ctx, "nx.rst.test",
                                             port_str(port, ps), cres_connect,
                                             cres_prepare, &r, &b.guard), 0);
        assert_true(nt_run_until(b.loop, &r.done, 5.));
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.status, 0);
        if (strcmp(r.host, "127.0.0.1") == 0) {
            assert_int_equal(r.prepares, 2);
            seen1++;
        } else {
            assert_string_equal(r.host, "127.0.0.2");
            seen2++;
        }
        close(r.fd);
        anysock_guard_cancel(&b.guard);
        /* the server side of the 127.0.0.1 connection is still queued */
        {
            int a;

            while ((a = accept4(l, NULL, NULL, SOCK_CLOEXEC)) >= 0)
                close(a);
        }
        assert_int_equal(nt_count_fds(), fds);
    }
    print_message("reset first target: won by the reset peer %d, by the "
                  "next target %d\n", seen2, seen1);
    close(l);
    rst_peer_stop(b.loop, &p);
    base_done(&b);
}

/* ---- tcp_connect: cancel at every stage ---------------------------------- */

enum cstage {
    CS_AFTER_RETURN,   /* straight after tcp_connect returned */
    CS_IN_PREPARE,     /* inside prepare_cb number `nth` */
    CS_TIMER,          /* from a timer `at` seconds after the start */
    CS_IN_CONNECT_CB,  /* inside connect_cb */
    CS_AFTER_DONE,     /* from outside, after connect_cb returned */
};

/* 127.0.0.1 listens; 127.0.0.2 and .3 are blackholed (full queues) on the
 * same port; nothing listens on .4 and .5 (refused). */
static const char cancel_hosts[] =
    "127.0.0.1 nx.ok.test\n"
    "127.0.0.2 nx.hole-ok.test\n127.0.0.1 nx.hole-ok.test\n"
    "127.0.0.2 nx.holes.test\n127.0.0.3 nx.holes.test\n"
    "127.0.0.4 nx.refused.test\n127.0.0.5 nx.refused.test\n"
    "127.0.0.4 nx.refused-ok.test\n127.0.0.1 nx.refused-ok.test\n";

typedef struct cancel_case {
    const char *what;
    const char *host;    /* "unix/": the unix listener's path as service */
    double delay;        /* Happy Eyeballs delay; -1 the default */
    enum cstage stage;
    int nth;             /* CS_IN_PREPARE */
    double at;           /* CS_TIMER */
    int calls;           /* connect_cb calls in all */
    int status;          /* the last one's status (when calls > 0) */
    int prepares;        /* prepare_cb calls in all */
    /* fds the cancel itself closes, at least: with answers streaming
     * (issue 12) an attempt can start while the other family's lookup
     * still holds a DNS socket, which the cancel closes too; -1
     * unchecked */
    int closes;
} cancel_case;

static const cancel_case cancel_cases[] = {
    {"after return: literal, attempt not started yet", "127.0.0.1", -1.,
     CS_AFTER_RETURN, 0, 0., 0, 0, 0, 0},
    {"after return: unix path", "unix/", -1., CS_AFTER_RETURN, 0, 0., 0, 0,
     0, 0},
    {"after return: name still resolving", "nx.ok.test", -1.,
     CS_AFTER_RETURN, 0, 0., 0, 0, 0, 0},
    {"timer: DNS query in flight (answer after 150 ms)", "slow.test", -1.,
     CS_TIMER, 0, 0.05, 0, 0, 0, -1},
    {"in prepare: the only attempt of a name", "nx.ok.test", -1.,
     CS_IN_PREPARE, 1, 0., 0, 0, 1, 1},
    {"in prepare: 2nd attempt, 1st still in flight", "nx.holes.test", 0.1,
     CS_IN_PREPARE, 2, 0., 0, 0, 2, 2},
    {"in prepare: 2nd attempt, 1st refused", "nx.refused-ok.test", 0.,
     CS_IN_PREPARE, 2, 0., 0, 0, 2, 1},
    {"timer: two attempts in flight", "nx.holes.test", 0.05, CS_TIMER, 0,
     0.3, 0, 0, 2, 2},
    {"timer: between attempts, 2nd waits for the delay", "nx.hole-ok.test",
     2.0, CS_TIMER, 0, 0.1, 0, 0, 1, 1},
    {"in connect_cb: failure after every target refused", "nx.refused.test",
     -1., CS_IN_CONNECT_CB, 0, 0., 1, -ECONNREFUSED, 2, 0},
    {"in connect_cb: success, a blackholed attempt was racing",
     "nx.hole-ok.test", 0.05, CS_IN_CONNECT_CB, 0, 0., 1, 0, 2, 0},
    {"after completion: success (the fd stays the caller's)", "127.0.0.1",
     -1., CS_AFTER_DONE, 0, 0., 1, 0, 1, 0},
    {"after completion: failure", "nx.refused.test", -1., CS_AFTER_DONE, 0,
     0., 1, -ECONNREFUSED, 2, 0},
};

typedef struct cx {
    const cancel_case *c;
    anysock_guard **guard;
    int calls, status, fd, prepares;
    int calls_at_cancel, fds_mid, fds_after;
    bool returned, early, cancelled, done;
} cx;

/* Cancel, then cancel again (a no-op on the cleared guard). */
static void cx_cancel(cx *x)
{
    x->fds_mid = nt_count_fds();
    x->calls_at_cancel = x->calls;
    anysock_guard_cancel(x->guard);
    assert_null(*x->guard);
    anysock_guard_cancel(x->guard);
    x->fds_after = nt_count_fds();
    x->cancelled = true;
}

static double cx_prepare(void *data, int fd)
{
    cx *x = data;

    assert_true(nt_fd_flags_ok(fd));
    if (x->cancelled)
        fail_msg("%s: prepare_cb after cancel", x->c->what);
    x->prepares++;
    if (x->c->stage == CS_IN_PREPARE && x->prepares == x->c->nth)
        cx_cancel(x);
    return 0.;
}

static void cx_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    cx *x = data;

    (void)host;
    (void)port;
    if (!x->returned)
        x->early = true;
    if (x->cancelled)
        fail_msg("%s: connect_cb after cancel", x->c->what);
    x->calls++;
    x->status = status;
    if (status == 0) {
        assert_true(nt_fd_flags_ok(fd));
        x->fd = fd;
    } else {
        assert_int_equal(fd, -1);
    }
    x->done = true;
    if (x->c->stage == CS_IN_CONNECT_CB)
        cx_cancel(x);
}

static void cx_timer_cb(struct ev_loop *loop, ev_timer *w, int r)
{
    (void)loop;
    (void)r;
    cx_cancel(w->data);
}

#define CASE_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond))                                                        \
            fail_msg("%s: %s", c->what, #cond);                            \
    } while (0)

static void run_cancel_case(const cancel_case *c)
{
    base b;
    unsigned port = 0;
    int hold2[3], hold3[3], l, ul, fds;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char ps[8], path[64];
    const char *service;
    cx x = {.c = c, .fd = -1};
    ev_timer t;

    base_init(&b);
    assert_int_equal(make_ctx(&b, cancel_hosts, c->delay), 0);
    assert_int_equal(nt_blackhole("127.0.0.2", &port, hold2), 0);
    assert_int_equal(nt_blackhole("127.0.0.3", &port, hold3), 0);
    l = nt_listen(AF_INET, "127.0.0.1", &port, 64);
    assert_true(l >= 0);
    snprintf(path, sizeof path, "/tmp/anysock-nf-%d.sock", (int)getpid());
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    unlink(path);
    ul = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(ul, (struct sockaddr *)&sun, sizeof sun), 0);
    assert_int_equal(listen(ul, 8), 0);
    service = strcmp(c->host, "unix/") == 0 ? path : port_str(port, ps);

    x.guard = &b.guard;
    fds = nt_count_fds();
    assert_int_equal(anysock_tcp_connect(b.ctx, c->host, service, cx_connect,
                                         cx_prepare, &x, &b.guard), 0);
    x.returned = true;
    assert_non_null(b.guard);
    if (c->stage == CS_AFTER_RETURN)
        cx_cancel(&x);
    ev_timer_init(&t, cx_timer_cb, c->at, 0.);
    t.data = &x;
    if (c->stage == CS_TIMER)
        ev_timer_start(b.loop, &t);
    if (c->stage == CS_IN_CONNECT_CB || c->stage == CS_AFTER_DONE)
        CASE_CHECK(nt_run_until(b.loop, &x.done, 5.));
    if (c->stage == CS_AFTER_DONE)
        cx_cancel(&x);
    CASE_CHECK(nt_run_until(b.loop, &x.cancelled, 5.));
    /* nothing of the operation is left on the loop, so nothing more can
     * be called; ev_run has returned by itself */
    CASE_CHECK(nt_loop_idle(b.loop));
    CASE_CHECK(!x.early);
    CASE_CHECK(x.calls == x.calls_at_cancel);
    CASE_CHECK(x.calls == c->calls);
    if (c->calls > 0)
        CASE_CHECK(x.status == c->status);
    CASE_CHECK(x.prepares == c->prepares);
    if (c->closes >= 0)
        CASE_CHECK(x.fds_after <= x.fds_mid - c->closes);
    if (x.fd >= 0)
        close(x.fd);
    CASE_CHECK(nt_count_fds() == fds);

    ev_timer_stop(b.loop, &t);
    close(ul);
    unlink(path);
    close(l);
    nt_close3(hold2);
    nt_close3(hold3);
    base_done(&b);
}

static void test_connect_cancel_at_every_stage(void **state)
{
    (void)state;
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(cancel_cases); i++)
        run_cancel_case(&cancel_cases[i]);
    print_message("%zu cancellation stages checked\n",
                  ANYSOCK__ARRAY_SIZE(cancel_cases));
}

/* ---- tcp_server: accept() faults ----------------------------------------- */

typedef struct srv {
    base b;
    int lfd;
    unsigned port;
    int backlog;
    int accepts, errors, last_err, bad, after_cancel;
    bool reply;            /* send "ok" before closing */
    bool cancel_in_accept;
    bool cancelled;
    bool accepted;         /* at least one connection since reset */
} srv;

static void srv_accept(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    srv *s = data;

    (void)port;
    if (s->cancelled)
        s->after_cancel++;
    if (status < 0) {
        if (fd != -1 || host != NULL)
            s->bad++;
        s->errors++;
        s->last_err = status;
        return;
    }
    if (!accepted_fd_ok(fd) || host == NULL) {
        s->bad++;
        return;   /* not ours to close if it is not a valid fd */
    }
    s->accepts++;
    s->accepted = true;
    if (s->reply)
        (void)send(fd, "ok", 2, MSG_NOSIGNAL);
    close(fd);
    if (s->cancel_in_accept) {
        anysock_guard_cancel(&s->b.guard);
        s->cancelled = true;
    }
}

static int srv_prepare(void *data, int fd, const char *host, unsigned port)
{
    srv *s = data;

    (void)host;
    s->lfd = fd;
    s->port = port;
    return s->backlog;
}

static void srv_start(srv *s)
{
    memset(s, 0, sizeof *s);
    base_init(&s->b);
    s->reply = true;
    assert_int_equal(anysock_tcp_server(s->b.ctx, "127.0.0.1", NULL,
                                        srv_accept, srv_prepare, s,
                                        &s->b.guard), 0);
    assert_true(s->port > 0);
}

typedef struct storm {
    srv *s;
    int fds[256];
    int n;
    ev_timer t;
} storm;

/* One new client per tick while the fault lasts. */
static void storm_tick(struct ev_loop *loop, ev_timer *w, int r)
{
    storm *st = w->data;
    int c;

    (void)loop;
    (void)r;
    if (st->n >= (int)ANYSOCK__ARRAY_SIZE(st->fds))
        return;
    c = nt_connect("127.0.0.1", st->s->port);
    assert_true(c >= 0);
    st->fds[st->n++] = c;
}

static void flag_io_cb(struct ev_loop *loop, ev_io *w, int r)
{
    (void)r;
    *(bool *)w->data = true;
    ev_io_stop(loop, w);
}

typedef struct accept_fault {
    const char *name;
    int err;
    bool consume;
} accept_fault;

static const accept_fault accept_faults[] = {
    {"ECONNABORTED (connection lost)", -ECONNABORTED, true},
    {"EPROTO (connection lost)", -EPROTO, true},
    {"EPERM (firewalled connection lost)", -EPERM, true},
    {"EPERM (denied before the queue, as by an LSM)", -EPERM, false},
    {"EMFILE", -EMFILE, false},
    {"ENFILE", -ENFILE, false},
    {"ENOBUFS", -ENOBUFS, false},
    {"ENOMEM", -ENOMEM, false},
};

#define FAULT_WINDOW 0.6
#define FAULT_QUEUED 8
/* accept() calls per second of loop time while a fault lasts; the pause
 * gives about 10-20, a spinning server millions */
#define FAULT_MAX_RATE 500.

static void run_accept_fault(const accept_fault *af)
{
    srv s;
    storm st;
    long calls0, calls;
    double cpu0, cpu, t0, back;
    int fresh, total, lost = 0, served = 0;
    bool readable = false;
    ev_io rio;
    char buf[2];

    srv_start(&s);
    memset(&st, 0, sizeof st);
    st.s = &s;
    st.t.data = &st;
    for (int i = 0; i < FAULT_QUEUED; i++)
        storm_tick(s.b.loop, &st.t, 0);
    /* the fault is there before the server first looks */
    inj.err = af->err;
    inj.consume = af->consume;
    ev_timer_init(&st.t, storm_tick, 0.02, 0.02);
    st.t.data = &st;
    ev_timer_start(s.b.loop, &st.t);
    calls0 = inj.calls;
    cpu0 = nt_cpu_seconds();
    run_for(s.b.loop, FAULT_WINDOW);
    ev_timer_stop(s.b.loop, &st.t);
    calls = inj.calls - calls0;
    cpu = nt_cpu_seconds() - cpu0;
    if (inj.runaway)
        fail_msg("%s: the server never returned to the loop (%ld accept "
                 "calls in one wake-up)", af->name, RUNAWAY_CALLS);
    inj.err = 0;

    assert_int_equal(s.bad, 0);
    assert_true(inj.faults >= 1);
    assert_true(s.errors >= 1);
    assert_true(s.errors <= inj.faults);
    assert_int_equal(s.last_err, af->err);
    assert_int_equal(s.accepts, 0);
    if (calls / FAULT_WINDOW > FAULT_MAX_RATE)
        fail_msg("%s: %ld accept calls in %.1f s", af->name, calls,
                 FAULT_WINDOW);
    if (cpu > FAULT_WINDOW / 2)
        fail_msg("%s: %.2f s of CPU in %.1f s", af->name, cpu, FAULT_WINDOW);

    /* the fault clears: a new client is served without outside help */
    fresh = nt_connect("127.0.0.1", s.port);
    assert_true(fresh >= 0);
    t0 = nt_now();
    ev_io_init(&rio, flag_io_cb, fresh, EV_READ);
    rio.data = &readable;
    ev_io_start(s.b.loop, &rio);
    assert_true(nt_run_until(s.b.loop, &readable, 3.));
    back = nt_now() - t0;
    assert_true(back < 1.);   /* one pause at most, with slack */
    assert_int_equal(recv(fresh, buf, 2, 0), 2);
    assert_memory_equal(buf, "ok", 2);
    close(fresh);
    run_for(s.b.loop, 0.05);

    /* every earlier client was either lost (EOF) or is served now; none
     * is left waiting */
    total = st.n;
    for (int i = 0; i < st.n; i++) {
        char state = peek_state(st.fds[i], 500);

        if (state == 'e')
            lost++;
        else if (state == 'd')
            served++;
        else
            fail_msg("%s: client %d left in state '%c'", af->name, i, state);
        close(st.fds[i]);
    }
    if (af->consume) {
        assert_true(lost >= FAULT_QUEUED);
    } else {
        /* nothing was dequeued by the fault: all of them are served */
        assert_int_equal(lost, 0);
        assert_int_equal(served, total);
    }
    assert_int_equal(s.accepts, served + 1);
    assert_int_equal(s.bad, 0);
    print_message("accept %-47s %3ld calls in %.1f s (%4.0f/s), %2d reported, "
                  "cpu %.3f s, %3d lost, %3d served, again after %.3f s\n",
                  af->name, calls, FAULT_WINDOW, calls / FAULT_WINDOW,
                  s.errors, cpu, lost, served, back);
    base_done(&s.b);
}

static void test_server_accept_faults_in_bursts(void **state)
{
    (void)state;
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(accept_faults); i++)
        run_accept_fault(&accept_faults[i]);
}

/* Clients that connect and vanish with an RST before the server gets to
 * them, every 8th one a good client that waits for "ok". */
static void test_server_survives_clients_vanishing_before_accept(void **state)
{
    srv s;
    int good[16], ngood = 0, n = 128;
    char buf[2];

    (void)state;
    srv_start(&s);
    for (int i = 0; i < n; i++) {
        int c = nt_connect("127.0.0.1", s.port);

        assert_true(c >= 0);
        if (i % 8 == 7)
            good[ngood++] = c;
        else
            close_rst(c);
    }
    run_for(s.b.loop, 0.3);
    /* every queued connection came out once: as a valid fd (closed by the
     * callback) or as ECONNABORTED */
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.accepts + s.errors, n);
    if (s.errors > 0)
        assert_int_equal(s.last_err, -ECONNABORTED);
    for (int i = 0; i < ngood; i++) {
        assert_int_equal(peek_state(good[i], 1000), 'd');
        assert_int_equal(recv(good[i], buf, 2, 0), 2);
        close(good[i]);
    }
    print_message("%d vanished clients: %d handed out as fds, %d reported "
                  "as errors\n", n - ngood, s.accepts - ngood, s.errors);
    base_done(&s.b);
}

/* ---- tcp_server: thousands of pending connections at cancel ------------- */

static int read_int_file(const char *path, int dflt)
{
    FILE *fp = fopen(path, "re");
    int v = dflt;

    if (fp != NULL) {
        if (fscanf(fp, "%d", &v) != 1)
            v = dflt;
        fclose(fp);
    }
    return v;
}

static void pending_at_cancel(bool in_accept)
{
    enum { WANT = 2000 };
    static int cl[WANT];
    struct rlimit rl;
    struct timeval tv = {3, 0};
    srv s;
    int n = WANT, fds0, counts[128] = {0}, somax, after;

    somax = read_int_file("/proc/sys/net/core/somaxconn", 4096);
    if (somax <= n) {
        print_message("net.core.somaxconn is %d: %d pending instead of %d\n",
                      somax, somax - 1, n);
        n = somax - 1;
    }
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < (rlim_t)n + 64)
        SKIP("RLIMIT_NOFILE too low for the pending connections");
    srv_start(&s);
    s.cancel_in_accept = in_accept;
    /* the server listens before tcp_server returns; our loop is not
     * running, so every handshake completes into the backlog (SOMAXCONN) */
    fds0 = nt_count_fds();
    for (int i = 0; i < n; i++) {
        cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(cl[i] >= 0);
        /* a full queue would make connect wait for SYN retries */
        setsockopt(cl[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        {
            struct sockaddr_in sin = {.sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)s.port),
                                      .sin_addr.s_addr =
                                          htonl(INADDR_LOOPBACK)};

            if (connect(cl[i], (struct sockaddr *)&sin, sizeof sin) < 0)
                fail_msg("client %d: %s", i, strerror(errno));
        }
    }
    if (in_accept) {
        run_for(s.b.loop, 0.2);
        assert_int_equal(s.accepts, 1);
    } else {
        anysock_guard_cancel(&s.b.guard);
        s.cancelled = true;
        run_for(s.b.loop, 0.2);
        assert_int_equal(s.accepts, 0);
    }
    assert_null(s.b.guard);
    assert_int_equal(s.after_cancel, 0);
    assert_int_equal(s.errors, 0);
    assert_true(nt_loop_idle(s.b.loop));
    /* the listener and its spare fd are gone; only the clients remain */
    assert_int_equal(fcntl(s.lfd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    after = nt_count_fds();
    for (int i = 0; i < n; i++)
        counts[(unsigned char)peek_state(cl[i], 0)]++;
    /* the one accepted got "ok"; the kernel reset every other one */
    assert_int_equal(counts['d'], in_accept ? 1 : 0);
    assert_int_equal(counts['r'] + counts['e'], n - counts['d']);
    assert_int_equal(nt_connect("127.0.0.1", s.port), -ECONNREFUSED);
    for (int i = 0; i < n; i++)
        close(cl[i]);
    print_message("%d pending, cancel %s: %d reset, %d EOF, %d served; "
                  "fds %d -> %d with the clients -> %d\n", n,
                  in_accept ? "in the first accept_cb" : "before any accept",
                  counts['r'], counts['e'], counts['d'], fds0, after,
                  nt_count_fds());
    assert_int_equal(after, fds0 - 2 + n);
    base_done(&s.b);
}

static void test_server_cancel_with_2000_pending(void **state)
{
    (void)state;
    pending_at_cancel(false);
}

static void test_server_cancel_in_accept_with_2000_pending(void **state)
{
    (void)state;
    pending_at_cancel(true);
}

/* ---- tcp_server: a real EMFILE storm -------------------------------------- */

typedef struct es {
    struct ev_loop *loop;
    int held[64];
    int nheld;
    int emfile, bad, served;
    unsigned port;
    bool holding;
} es;

typedef struct es_stats {
    long calls;
    double cpu, window;
    int emfile, held, bad;
} es_stats;

static void es_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    es *e = data;

    (void)host;
    (void)port;
    if (status < 0) {
        if (fd != -1)
            e->bad++;
        if (status == -EMFILE || status == -ENFILE)
            e->emfile++;
        return;
    }
    if (!accepted_fd_ok(fd)) {
        e->bad++;
        return;
    }
    if (e->holding && e->nheld < 64) {
        e->held[e->nheld++] = fd;   /* keep it: fds run out */
        return;
    }
    (void)send(fd, "ok", 2, MSG_NOSIGNAL);
    close(fd);
    e->served++;
}

static void es_ctl_cb(struct ev_loop *loop, ev_io *w, int r)
{
    (void)w;
    (void)r;
    ev_break(loop, EVBREAK_ALL);
}

static int es_prepare(void *data, int fd, const char *host, unsigned port)
{
    (void)fd;
    (void)host;
    ((es *)data)->port = port;
    return 0;
}

/* Child: the server under a low fd limit. Exit codes name the failed
 * step; the parent checks the figures it writes back. */
static int storm_child(int ctl_r, int ctl_w)
{
    es e = {0};
    es_stats st = {0};
    anysock_ctx *ctx = NULL;
    anysock_guard *g = NULL;
    struct rlimit rl;
    unsigned port = 0;
    ev_io ctl;
    char b;
    long calls0;
    double cpu0, t0;
    int rc = 0;

    e.loop = ev_loop_new(EVFLAG_AUTO);
    e.holding = true;
    inj_reset();
    if (anysock_ctx_new(e.loop, NULL, &ctx) < 0)
        { rc = 10; goto out; }
    if (anysock_tcp_server(ctx, "127.0.0.1", NULL, es_accept, es_prepare,
                           &e, &g) < 0)
        { rc = 11; goto out; }
    port = e.port;
    /* the soft limit only: valgrind refuses any change to the hard one */
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        { rc = 12; goto out; }
    rl.rlim_cur = (rlim_t)nt_count_fds() + 6;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        { rc = 12; goto out; }
    if (write(ctl_w, &port, sizeof port) != sizeof port)
        { rc = 13; goto out; }
    if (read(ctl_r, &b, 1) != 1 || b != 'b')
        { rc = 14; goto out; }
    ev_io_init(&ctl, es_ctl_cb, ctl_r, EV_READ);
    ev_io_start(e.loop, &ctl);
    calls0 = inj.calls;
    cpu0 = nt_cpu_seconds();
    t0 = nt_now();
    ev_run(e.loop, 0);             /* until the parent's storm is over */
    st.window = nt_now() - t0;
    st.cpu = nt_cpu_seconds() - cpu0;
    st.calls = inj.calls - calls0;
    st.emfile = e.emfile;
    st.held = e.nheld;
    st.bad = e.bad;
    if (read(ctl_r, &b, 1) != 1 || b != 's')
        { rc = 15; goto out; }
    /* free the fds and serve everyone from now on */
    for (int i = 0; i < e.nheld; i++)
        close(e.held[i]);
    e.nheld = 0;
    e.holding = false;
    if (write(ctl_w, &st, sizeof st) != sizeof st)
        { rc = 16; goto out; }
    ev_run(e.loop, 0);             /* until the parent says 'q' */
    if (read(ctl_r, &b, 1) != 1 || b != 'q')
        { rc = 17; goto out; }
    ev_io_stop(e.loop, &ctl);
out:
    for (int i = 0; i < e.nheld; i++)
        close(e.held[i]);
    anysock_guard_cancel(&g);
    anysock_ctx_free(ctx);
    ev_loop_destroy(e.loop);
    return rc;
}

#define STORM_ROUNDS 25
#define STORM_PER_ROUND 20

static void test_server_emfile_storm_of_clients(void **state)
{
    enum { N = STORM_ROUNDS * STORM_PER_ROUND };
    static int cl[N];
    struct timespec gap = {0, 40 * 1000 * 1000};
    struct timeval tv = {3, 0};
    int fresh, n = 0, fds0;
    int counts[128] = {0};
    unsigned port;
    nt_child ch;
    es_stats st;
    char b, buf[2];

    (void)state;
    fds0 = nt_count_fds();
    if (nt_child_start(&ch, storm_child) < 0) {
        if (ch.status == 12)
            SKIP("setrlimit refused (e.g. under valgrind)");
        fail_msg("storm child failed early, exit %d", ch.status);
    }
    port = ch.port;
    b = 'b';
    assert_int_equal(write(ch.to_child, &b, 1), 1);
    /* about a second of clients arriving while the server is out of fds */
    for (int r = 0; r < STORM_ROUNDS; r++) {
        for (int i = 0; i < STORM_PER_ROUND; i++) {
            struct sockaddr_in sin = {.sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)port),
                                      .sin_addr.s_addr =
                                          htonl(INADDR_LOOPBACK)};
            int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

            assert_true(c >= 0);
            setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            if (connect(c, (struct sockaddr *)&sin, sizeof sin) < 0)
                fail_msg("storm client %d: %s", n, strerror(errno));
            cl[n++] = c;
        }
        nanosleep(&gap, NULL);
    }
    b = 's';
    assert_int_equal(write(ch.to_child, &b, 1), 1);
    assert_int_equal(read(ch.from_child, &st, sizeof st), (ssize_t)sizeof st);
    /* nobody is left hanging: shed (EOF or reset), or served after the
     * fds came back */
    for (int i = 0; i < n; i++) {
        char s = peek_state(cl[i], 3000);

        counts[(unsigned char)s]++;
        if (s == 'w' || s == 'x')
            fail_msg("storm client %d left in state '%c'", i, s);
        close(cl[i]);
    }
    fresh = nt_connect("127.0.0.1", port);
    assert_true(fresh >= 0);
    assert_int_equal(peek_state(fresh, 3000), 'd');
    assert_int_equal(recv(fresh, buf, 2, 0), 2);
    assert_memory_equal(buf, "ok", 2);
    close(fresh);
    b = 'q';
    assert_int_equal(write(ch.to_child, &b, 1), 1);
    assert_int_equal(nt_child_end(&ch), 0);
    print_message("EMFILE storm: %d clients in %.2f s, %d EMFILE reports, "
                  "%ld accept calls (%.0f/s), cpu %.3f s; clients: %d EOF, "
                  "%d reset, %d served\n", n, st.window, st.emfile, st.calls,
                  st.calls / st.window, st.cpu, counts['e'], counts['r'],
                  counts['d']);
    assert_int_equal(st.bad, 0);
    assert_true(st.emfile > 0);
    assert_true(st.held > 0);
    /* work follows the clients, not the time: each arrival costs a few
     * calls at most, and the CPU stays low */
    assert_true(st.calls <= 4L * n + (long)(100 * st.window));
    assert_true(st.cpu < st.window / 2);
    assert_int_equal(nt_count_fds(), fds0);
}

/* ---- unix sockets: paths the process may not touch ----------------------- */

static void make_stale_socket(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);   /* the file stays: a dead server's socket */
}

typedef struct ro_paths {
    char ro[64], w[64], x[64];       /* directories */
    char fresh[96], stale[96], link[96], target[96], hidden[96];
} ro_paths;

/* Child, as uid/gid 65534: every attempt fails cleanly and touches
 * nothing. Exit codes name the failed check. */
static int unwritable_child(const ro_paths *p)
{
    struct ev_loop *loop;
    anysock_ctx *ctx = NULL;
    anysock_guard *g = NULL;
    struct stat st;
    int fds, fd = -1, rc = 0;

    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
        return 20;
    loop = ev_loop_new(EVFLAG_AUTO);
    if (loop == NULL || anysock_ctx_new(loop, NULL, &ctx) < 0)
        return 21;
    fds = nt_count_fds();
    /* a new socket in a directory we may not write */
    if (anysock_tcp_server(ctx, "unix/", p->fresh, srv_accept, NULL, NULL,
                           &g) != -EACCES || g != NULL)
        { rc = 22; goto out; }
    if (lstat(p->fresh, &st) == 0 || errno != ENOENT)
        { rc = 23; goto out; }
    /* a stale socket there: we may not remove it, so it must stay */
    if (anysock_tcp_server(ctx, "unix/", p->stale, srv_accept, NULL, NULL,
                           &g) != -EACCES || g != NULL)
        { rc = 24; goto out; }
    if (anysock_tcp_bind(ctx, "unix/", p->stale, NULL, NULL, &fd, &g) !=
            -EACCES || fd != -1 || g != NULL)
        { rc = 25; goto out; }
    /* a dangling symlink into a directory we may write: not followed */
    if (anysock_tcp_server(ctx, "unix/", p->link, srv_accept, NULL, NULL,
                           &g) != ANYSOCK_ENOTSOCK || g != NULL)
        { rc = 26; goto out; }
    if (lstat(p->target, &st) == 0 || errno != ENOENT)
        { rc = 27; goto out; }
    /* a directory we may not even search */
    if (anysock_tcp_server(ctx, "unix/", p->hidden, srv_accept, NULL, NULL,
                           &g) != -EACCES || g != NULL)
        { rc = 28; goto out; }
    if (nt_count_fds() != fds)
        rc = 29;
out:
    anysock_guard_cancel(&g);
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    return rc;
}

static void test_server_unix_unwritable_dir_touches_nothing(void **state)
{
    ro_paths p;
    struct stat st0, st;
    char lt[96];
    pid_t pid;
    int status, pid0 = (int)getpid();
    ssize_t n;

    (void)state;
    if (geteuid() != 0)
        SKIP("needs root to drop to uid 65534 in a child");
    snprintf(p.ro, sizeof p.ro, "/tmp/anysock-nf-ro-%d", pid0);
    snprintf(p.w, sizeof p.w, "/tmp/anysock-nf-w-%d", pid0);
    snprintf(p.x, sizeof p.x, "/tmp/anysock-nf-x-%d", pid0);
    snprintf(p.fresh, sizeof p.fresh, "%s/new.sock", p.ro);
    snprintf(p.stale, sizeof p.stale, "%s/stale.sock", p.ro);
    snprintf(p.link, sizeof p.link, "%s/link.sock", p.ro);
    snprintf(p.target, sizeof p.target, "%s/target.sock", p.w);
    snprintf(p.hidden, sizeof p.hidden, "%s/s.sock", p.x);
    assert_int_equal(mkdir(p.ro, 0755), 0);
    assert_int_equal(chmod(p.ro, 0755), 0);   /* whatever the umask */
    assert_int_equal(mkdir(p.w, 0700), 0);
    assert_int_equal(chown(p.w, 65534, 65534), 0);
    assert_int_equal(mkdir(p.x, 0700), 0);
    make_stale_socket(p.stale);
    assert_int_equal(lstat(p.stale, &st0), 0);
    assert_int_equal(symlink(p.target, p.link), 0);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(unwritable_child(&p));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("unprivileged child failed check %d", WEXITSTATUS(status));
    /* the stale socket is the very same file, the link is intact */
    assert_int_equal(lstat(p.stale, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_ino, st0.st_ino);
    assert_int_equal(st.st_mtim.tv_nsec, st0.st_mtim.tv_nsec);
    assert_int_equal(lstat(p.link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    n = readlink(p.link, lt, sizeof lt - 1);
    assert_true(n > 0);
    lt[n] = '\0';
    assert_string_equal(lt, p.target);
    assert_int_equal(lstat(p.target, &st), -1);
    assert_int_equal(lstat(p.fresh, &st), -1);
    assert_int_equal(lstat(p.hidden, &st), -1);

    unlink(p.stale);
    unlink(p.link);
    rmdir(p.ro);
    rmdir(p.w);
    rmdir(p.x);
}

/* Cancel removes the socket file only while it is the one the server
 * created: not a symlink put in its place (even one pointing at the
 * server's own socket, moved away), and not a socket at the same path
 * after the directory itself was replaced. */
static void test_server_unix_cancel_keeps_paths_not_created(void **state)
{
    base b;
    char dir[64], dir2[64], path[96], moved[96], path2[96];
    struct stat st;
    int pid0 = (int)getpid();

    (void)state;
    base_init(&b);
    snprintf(dir, sizeof dir, "/tmp/anysock-nf-c-%d", pid0);
    snprintf(dir2, sizeof dir2, "/tmp/anysock-nf-c2-%d", pid0);
    snprintf(path, sizeof path, "%s/s.sock", dir);
    snprintf(moved, sizeof moved, "%s/moved.sock", dir);
    snprintf(path2, sizeof path2, "%s/s.sock", dir2);
    assert_int_equal(mkdir(dir, 0700), 0);

    /* our socket moved aside, a symlink to it at the path */
    assert_int_equal(anysock_tcp_server(b.ctx, "unix/", path, srv_accept,
                                        NULL, NULL, &b.guard), 0);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(symlink(moved, path), 0);
    anysock_guard_cancel(&b.guard);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(moved, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    unlink(path);
    unlink(moved);

    /* the directory renamed, a new one with another server's socket */
    assert_int_equal(anysock_tcp_server(b.ctx, "unix/", path, srv_accept,
                                        NULL, NULL, &b.guard), 0);
    assert_int_equal(rename(dir, dir2), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    make_stale_socket(path);
    anysock_guard_cancel(&b.guard);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(lstat(path2, &st), 0);   /* not followed there */
    unlink(path);
    unlink(path2);
    rmdir(dir);
    rmdir(dir2);
    base_done(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_peer_resets_at_once),
        cmocka_unit_test(test_connect_reset_target_moves_to_next),
        cmocka_unit_test(test_connect_cancel_at_every_stage),
        cmocka_unit_test(test_server_accept_faults_in_bursts),
        cmocka_unit_test(test_server_survives_clients_vanishing_before_accept),
        cmocka_unit_test(test_server_cancel_with_2000_pending),
        cmocka_unit_test(test_server_cancel_in_accept_with_2000_pending),
        cmocka_unit_test(test_server_emfile_storm_of_clients),
        cmocka_unit_test(test_server_unix_unwritable_dir_touches_nothing),
        cmocka_unit_test(test_server_unix_cancel_keeps_paths_not_created),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, fakedns_group_teardown);
}
