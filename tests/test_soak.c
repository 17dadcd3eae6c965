/* Soak: many connect/accept/close cycles over IPv4 (127.0.0.1), IPv6 (::1)
 * and unix sockets, all on one loop with ~64 in flight, each cycle planned
 * at random: cancelled right after tcp_connect, from a short timer, inside
 * prepare_cb or inside connect_cb; aimed at a port or path nobody listens
 * on; rejected by the server's accept callback; or echoing a few bytes.
 *
 * Checked: every cycle ends exactly once as success, refusal or
 * cancellation and the totals add up; no library callback reaches a cycle
 * after its cancel (or twice); the server side agrees with the client
 * side; the fd count is back to its start; and between the end of a
 * warm-up (the first 10% of cycles) and the end neither the heap in use
 * (mallinfo2) grew by 64 KiB nor RSS by 2 MiB. The two memory bounds are
 * skipped, saying so, under AddressSanitizer or valgrind; nothing else is.
 *
 * ANYSOCK_SOAK_CYCLES  cycles to run. ctest uses 20000 (a few seconds);
 *     the long form is >= 100000, e.g.
 *     ANYSOCK_SOAK_CYCLES=1000000 build/release/tests/test_soak
 * ANYSOCK_SOAK_SEED    fixes every cycle's plan (printed at the start when
 *     chosen at random); the kernel's and the loop's timing still vary. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "harness/nettest.h"

/* The memory figures mean nothing when the allocator is not glibc's or
 * freed memory is held back on purpose. */
#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#ifndef SOAK_ASAN
#define SOAK_ASAN 0
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define SOAK_HAVE_VALGRIND_H 1
#endif
#endif

#define DEFAULT_CYCLES 20000ul
#define INFLIGHT 64
#define NREC 1024      /* cycle i uses recs[i % NREC]: ring of records */
#define NSESS 512      /* server-side connections open at once, at most */
#define HEAP_BOUND (64 * 1024)
#define RSS_BOUND_KB 2048

enum { V4, V6, UNX, NFAM };
enum { OK, REFUSED, CANCELLED, NOUT };
/* how a cycle is cancelled, if it is */
enum { A_RUN, A_CANCEL_NOW, A_CANCEL_TIMER, A_CANCEL_PREPARE };
/* who ends the guard of a cycle that ran to its callback */
enum { G_NONE, G_IN_CB, G_LATER };
/* R_FREE also after the end: a library callback then is a bug */
enum { R_FREE, R_CONNECTING, R_OPEN, R_RELEASE };

static const char *const fam_name[NFAM] = {"v4", "v6", "unix"};
static const char *const fam_host[NFAM] = {"127.0.0.1", "::1", "unix/"};

typedef struct soak soak;

typedef struct rec {
    soak *s;
    anysock_guard *guard;
    ev_timer timer;        /* the cancel timer, later the deferred release */
    ev_io io;              /* waiting for the echo */
    unsigned long id;
    int state, fam, action, gmode, expect;
    bool dead, prepare;
    bool in_call;          /* inside anysock_tcp_connect */
    int nprep;             /* prepare_cb calls */
    int outcome;           /* -1 until the cycle has one */
    double prep_timeout, delay;
    size_t nsend, nrecv;
    unsigned char buf[16];
} rec;

typedef struct sess {
    ev_io io;
    int next_free;
} sess;

typedef struct server {
    soak *s;
    int fam;
    anysock_guard *guard;
    unsigned port;
    unsigned long accepted;
} server;

struct soak {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    uint64_t seed, srv_rng;
    bool have_v6;
    char dir[64];
    char live_path[108], dead_path[108], missing_path[108];
    char live_svc[NFAM][8], dead_svc[NFAM][8];
    int dead_fd[NFAM];     /* bound and not listening: connects refused */
    server srv[NFAM];
    rec recs[NREC];
    sess sess[NSESS];
    int free_sess, nsess_open;
    ev_prepare refill;
    ev_timer tick;         /* wakes a stalled loop for the progress check */
    unsigned long target, started, finished;
    int inflight;
    unsigned long per_fam[NFAM], out[NOUT][NFAM];
    unsigned long by_action[4][NOUT];
    unsigned long prepares, rejected, sessions, accept_errors;
    unsigned long exch_started, exch_echoed, exch_closed;
};

static soak S;

/* splitmix64: one stream per cycle, so a seed replays every plan. */
static uint64_t next_rand(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static unsigned pick(uint64_t *st, unsigned n)
{
    return (unsigned)(((next_rand(st) >> 32) * n) >> 32);
}

static unsigned long env_ulong(const char *name, unsigned long def)
{
    const char *v = getenv(name);
    char *end;
    unsigned long long n;

    if (v == NULL || *v == '\0')
        return def;
    errno = 0;
    n = strtoull(v, &end, 0);
    if (errno != 0 || *end != '\0')
        fail_msg("%s=%s is not a number", name, v);
    return (unsigned long)n;
}

/* Heap in use: small blocks and mmapped ones. */
static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();

    return m.uordblks + m.hblkhd;
}

/* VmRSS in kB, read without stdio (no heap). */
static long rss_kb(void)
{
    char buf[8192], *p;
    ssize_t n, got = 0;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    while ((n = read(fd, buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += n;
    close(fd);
    buf[got] = '\0';
    p = strstr(buf, "VmRSS:");
    assert_non_null(p);
    return strtol(p + 6, NULL, 10);
}

/* Why the heap and RSS bounds cannot be judged in this run, or NULL. */
static const char *mem_skip_reason(void)
{
    const char *pre = getenv("LD_PRELOAD");

    if (SOAK_ASAN)
        return "built with AddressSanitizer (its allocator and quarantine "
               "replace glibc's heap)";
#ifdef SOAK_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND)
        return "running under valgrind (its allocator replaces glibc's)";
#endif
    if (pre != NULL && strstr(pre, "vgpreload") != NULL)
        return "running under valgrind (LD_PRELOAD has vgpreload)";
    return NULL;
}

static void fail_cycle(const rec *r, const char *what)
{
    fail_msg("cycle %lu (%s%s, action %d, guard %d, state %d): %s; "
             "replay with ANYSOCK_SOAK_SEED=%" PRIu64,
             r->id, fam_name[r->fam], r->dead ? " dead" : "", r->action,
             r->gmode, r->state, what, S.seed);
}

/* ---- one cycle ------------------------------------------------------- */

static void set_outcome(rec *r, int o)
{
    if (r->outcome != -1)
        fail_cycle(r, "a second outcome");
    r->outcome = o;
    r->s->out[o][r->fam]++;
    r->s->by_action[r->action][o]++;
}

static void end_cycle(rec *r)
{
    r->state = R_FREE;
    r->s->inflight--;
    r->s->finished++;
}

static void cancel_cycle(rec *r)
{
    anysock_guard_cancel(&r->guard);
    assert_null(r->guard);
    set_outcome(r, CANCELLED);
    end_cycle(r);
}

/* The connection is gone: end the guard now, or (G_LATER, still inside
 * connect_cb) from a zero timer in a later loop iteration. */
static void release(rec *r, bool in_cb)
{
    if (r->guard != NULL && in_cb) {
        r->state = R_RELEASE;
        ev_timer_set(&r->timer, 0., 0.);
        ev_timer_start(r->s->loop, &r->timer);
        return;
    }
    anysock_guard_cancel(&r->guard);
    end_cycle(r);
}

static void on_cycle_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    rec *r = w->data;

    (void)loop;
    (void)revents;
    if (r->state == R_CONNECTING)
        cancel_cycle(r);        /* A_CANCEL_TIMER: still in progress */
    else if (r->state == R_RELEASE)
        release(r, false);
    else
        fail_cycle(r, "timer in a wrong state");
}

static void on_echo(struct ev_loop *loop, ev_io *w, int revents)
{
    rec *r = w->data;
    unsigned char tmp[32];
    ssize_t n = recv(w->fd, tmp, sizeof tmp, 0);

    (void)revents;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        if (r->nrecv + (size_t)n > r->nsend ||
            memcmp(tmp, r->buf + r->nrecv, (size_t)n) != 0)
            fail_cycle(r, "echo differs from what was sent");
        r->nrecv += (size_t)n;
        if (r->nrecv < r->nsend)
            return;
        r->s->exch_echoed++;
    } else if (r->nrecv == 0 && (n == 0 || errno == ECONNRESET)) {
        r->s->exch_closed++;    /* the server rejected this connection */
    } else {
        fail_cycle(r, n == 0 ? "EOF in the middle of the echo"
                             : strerror(errno));
    }
    ev_io_stop(loop, w);
    close(w->fd);
    release(r, false);
}

static double on_prepare(void *data, int fd)
{
    rec *r = data;

    if (r->state != R_CONNECTING)
        fail_cycle(r, "prepare_cb after the cycle ended (after cancel?)");
    if (r->in_call)
        fail_cycle(r, "prepare_cb before tcp_connect returned");
    r->nprep++;
    if (!nt_fd_flags_ok(fd))
        fail_cycle(r, "prepare_cb fd not O_NONBLOCK|O_CLOEXEC");
    r->s->prepares++;
    if (r->action == A_CANCEL_PREPARE)
        cancel_cycle(r);
    return r->prep_timeout;
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    rec *r = data;
    soak *s = r->s;

    if (r->state != R_CONNECTING)
        fail_cycle(r, "connect_cb after the cycle ended (after cancel, or "
                      "twice)");
    if (r->in_call)
        fail_cycle(r, "connect_cb before tcp_connect returned");
    /* one target: one attempt, so prepare_cb ran once if it was given */
    if (r->nprep != (r->prepare ? 1 : 0))
        fail_cycle(r, "prepare_cb not called exactly once");
    if (r->action == A_CANCEL_TIMER)
        ev_timer_stop(s->loop, &r->timer);   /* too late to cancel */
    if (r->dead) {
        if (status != r->expect)
            fail_cycle(r, status == 0 ? "connected to a dead target"
                                      : anysock_strerror(status));
        assert_int_equal(fd, -1);
        assert_null(host);
        set_outcome(r, REFUSED);
    } else {
        if (status != 0)
            fail_cycle(r, anysock_strerror(status));
        if (!nt_fd_flags_ok(fd))
            fail_cycle(r, "connected fd not O_NONBLOCK|O_CLOEXEC");
        assert_string_equal(host, fam_host[r->fam]);
        assert_int_equal(port, r->fam == UNX ? 0 : s->srv[r->fam].port);
        set_outcome(r, OK);
    }
    if (r->gmode == G_IN_CB)
        anysock_guard_cancel(&r->guard);
    if (status == 0 && r->nsend > 0) {
        ssize_t n = send(fd, r->buf, r->nsend, MSG_NOSIGNAL);

        s->exch_started++;
        if (n == (ssize_t)r->nsend) {
            r->state = R_OPEN;
            ev_io_init(&r->io, on_echo, fd, EV_READ);
            r->io.data = r;
            ev_io_start(s->loop, &r->io);
            return;
        }
        if (n >= 0 || (errno != EPIPE && errno != ECONNRESET))
            fail_cycle(r, "send failed");
        s->exch_closed++;       /* rejected before we wrote */
    }
    if (status == 0)
        close(fd);
    release(r, true);
}

static void start_cycle(soak *s)
{
    unsigned long id = s->started;
    rec *r = &s->recs[id % NREC];
    uint64_t st = s->seed ^ ((uint64_t)id * 0xd1342543de82ef95u);
    const char *svc;
    unsigned u;
    int rc;

    memset(r, 0, sizeof *r);
    r->s = s;
    r->id = id;
    r->outcome = -1;
    r->fam = (int)pick(&st, NFAM);
    if (r->fam == V6 && !s->have_v6)
        r->fam = V4;
    r->dead = pick(&st, 100) < 10;
    u = pick(&st, 100);
    r->action = u < 8 ? A_CANCEL_NOW : u < 16 ? A_CANCEL_TIMER
              : u < 22 ? A_CANCEL_PREPARE : A_RUN;
    u = pick(&st, 100);
    r->gmode = r->action != A_RUN ? G_IN_CB
             : u < 15 ? G_NONE : u < 50 ? G_IN_CB : G_LATER;
    r->prepare = r->action == A_CANCEL_PREPARE || pick(&st, 2) == 0;
    r->prep_timeout = pick(&st, 2) == 0 ? 10. : 0.;
    r->delay = pick(&st, 1500) * 1e-6;
    if (!r->dead && pick(&st, 4) == 0)
        r->nsend = 1 + pick(&st, (unsigned)sizeof r->buf);
    for (size_t i = 0; i < r->nsend; i++)
        r->buf[i] = (unsigned char)next_rand(&st);
    r->expect = -ECONNREFUSED;
    if (r->fam == UNX) {
        svc = !r->dead ? s->live_path
            : pick(&st, 2) == 0 ? s->dead_path : s->missing_path;
        if (svc == s->missing_path)
            r->expect = -ENOENT;
    } else {
        svc = r->dead ? s->dead_svc[r->fam] : s->live_svc[r->fam];
    }
    ev_timer_init(&r->timer, on_cycle_timer, r->delay, 0.);
    r->timer.data = r;

    r->state = R_CONNECTING;
    s->started++;
    s->inflight++;
    s->per_fam[r->fam]++;
    r->in_call = true;
    rc = anysock_tcp_connect(s->ctx, fam_host[r->fam], svc, on_connect,
                             r->prepare ? on_prepare : NULL, r,
                             r->gmode == G_NONE ? NULL : &r->guard);
    r->in_call = false;
    if (rc != 0)
        fail_cycle(r, anysock_strerror(rc));
    if (r->action == A_CANCEL_NOW)
        cancel_cycle(r);
    else if (r->action == A_CANCEL_TIMER)
        ev_timer_start(s->loop, &r->timer);
}

/* Before each poll: keep INFLIGHT cycles going (a record is reused only
 * once its previous cycle has ended). */
static void on_refill(struct ev_loop *loop, ev_prepare *w, int revents)
{
    soak *s = w->data;

    (void)loop;
    (void)revents;
    while (s->inflight < INFLIGHT && s->started < s->target &&
           s->recs[s->started % NREC].state == R_FREE)
        start_cycle(s);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* ---- server side ------------------------------------------------------ */

static void on_session(struct ev_loop *loop, ev_io *w, int revents)
{
    sess *x = (sess *)(void *)w;
    char buf[64];
    ssize_t n = recv(w->fd, buf, sizeof buf, 0);

    (void)revents;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0 && send(w->fd, buf, (size_t)n, MSG_NOSIGNAL) == n)
        return;
    if (n < 0 && errno != ECONNRESET)
        fail_msg("server read: %s", strerror(errno));
    /* EOF, a reset, or the echo could not go out: done */
    ev_io_stop(loop, w);
    close(w->fd);
    x->next_free = S.free_sess;
    S.free_sess = (int)(x - S.sess);
    S.nsess_open--;
}

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    server *v = data;
    soak *s = v->s;
    sess *x;

    if (status < 0) {
        s->accept_errors++;
        print_message("accept error on %s: %s\n", fam_name[v->fam],
                      anysock_strerror(status));
        return;
    }
    v->accepted++;
    assert_true(nt_fd_flags_ok(fd));
    assert_string_equal(host, fam_host[v->fam]);
    if (v->fam == UNX)
        assert_int_equal(port, 0);
    else
        assert_true(port > 0);
    if (pick(&s->srv_rng, 100) < 15) {
        close(fd);              /* rejected at once */
        s->rejected++;
        return;
    }
    if (s->free_sess < 0)
        fail_msg("more than %d server connections open", NSESS);
    x = &s->sess[s->free_sess];
    s->free_sess = x->next_free;
    s->nsess_open++;
    s->sessions++;
    ev_io_init(&x->io, on_session, fd, EV_READ);
    ev_io_start(s->loop, &x->io);
}

static int on_listen(void *data, int fd, const char *host, unsigned port)
{
    server *v = data;

    (void)fd;
    (void)host;
    v->port = port;
    return 0;
}

/* A TCP socket bound to an ephemeral port and never listening: nothing
 * else can take the port, and connects to it are refused. */
static int bound_only(const char *addr, char svc[8])
{
    anysock_addr a;
    anysock_sockaddr sa;
    uint16_t port = 0;
    int fd;

    assert_int_equal(anysock_parse_address(addr, strlen(addr), &a), 0);
    assert_int_equal(anysock_pack_sockaddr(&a, 0, NULL, 0, &sa), 0);
    fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, &sa.u.sa, sa.len), 0);
    sa.len = sizeof sa.u;
    assert_int_equal(getsockname(fd, &sa.u.sa, &sa.len), 0);
    assert_int_equal(anysock_unpack_sockaddr(&sa.u.sa, sa.len, &a, &port,
                                             NULL, NULL), 0);
    snprintf(svc, 8, "%u", port);
    return fd;
}

static void start_server(soak *s, int fam, const char *svc)
{
    server *v = &s->srv[fam];

    v->s = s;
    v->fam = fam;
    assert_int_equal(anysock_tcp_server(s->ctx, fam_host[fam], svc,
                                        on_accept, on_listen, v, &v->guard),
                     0);
    if (fam != UNX)
        snprintf(s->live_svc[fam], sizeof s->live_svc[fam], "%u", v->port);
}

static unsigned long total_accepted(const soak *s)
{
    return s->srv[V4].accepted + s->srv[V6].accepted + s->srv[UNX].accepted;
}

static bool phase_over(const soak *s)
{
    return s->started == s->target && s->inflight == 0 &&
           s->nsess_open == 0;
}

/* Run cycles up to `target`, then until the server has accepted and
 * closed everything the clients left behind. Ten seconds without any
 * progress is a hang (a leaked client fd keeps its server side open). */
static void run_phase(soak *s, unsigned long target)
{
    double last = nt_now();
    bool never = false;
    unsigned long mark[3] = {0}, before;

    s->target = target;
    ev_timer_again(s->loop, &s->tick);
    for (;;) {
        unsigned long now[3] = {s->finished, total_accepted(s),
                                (unsigned long)s->nsess_open};

        if (memcmp(now, mark, sizeof now) != 0) {
            memcpy(mark, now, sizeof now);
            last = nt_now();
        } else if (nt_now() - last > 10.) {
            fail_msg("no progress for 10 s: started %lu of %lu, %d in "
                     "flight, %d server connections open; seed %" PRIu64,
                     s->started, target, s->inflight, s->nsess_open,
                     s->seed);
        }
        if (phase_over(s)) {
            /* connections a cancel left in an accept queue arrive a
             * little later */
            before = total_accepted(s);
            nt_run_until(s->loop, &never, 0.02);
            if (total_accepted(s) == before && phase_over(s))
                break;
        } else {
            ev_run(s->loop, EVRUN_ONCE);
        }
    }
    ev_timer_stop(s->loop, &s->tick);
}

/* What both sides saw must agree. */
static void check_accounting(const soak *s)
{
    unsigned long sum_fam = 0, sum_out = 0;

    assert_int_equal(s->started, s->target);
    assert_int_equal(s->finished, s->target);
    assert_int_equal(s->inflight, 0);
    for (int f = 0; f < NFAM; f++) {
        unsigned long ended = 0;

        for (int o = 0; o < NOUT; o++)
            ended += s->out[o][f];
        assert_int_equal(ended, s->per_fam[f]);
        sum_fam += s->per_fam[f];
        /* every success was accepted; beyond that only cancelled ones
         * whose handshake had completed */
        assert_true(s->srv[f].accepted >= s->out[OK][f]);
        assert_true(s->srv[f].accepted <=
                    s->out[OK][f] + s->out[CANCELLED][f]);
    }
    for (int o = 0; o < NOUT; o++)
        for (int f = 0; f < NFAM; f++)
            sum_out += s->out[o][f];
    assert_int_equal(sum_fam, s->target);
    assert_int_equal(sum_out, s->target);
    assert_int_equal(s->rejected + s->sessions, total_accepted(s));
    assert_int_equal(s->exch_echoed + s->exch_closed, s->exch_started);
    assert_true(s->exch_closed <= s->rejected);
    assert_int_equal(s->accept_errors, 0);
    /* cancels that cannot lose the race always cancel; nothing else does */
    assert_int_equal(s->by_action[A_CANCEL_NOW][OK] +
                     s->by_action[A_CANCEL_NOW][REFUSED], 0);
    assert_int_equal(s->by_action[A_CANCEL_PREPARE][OK] +
                     s->by_action[A_CANCEL_PREPARE][REFUSED], 0);
    assert_int_equal(s->by_action[A_RUN][CANCELLED], 0);
    assert_int_equal(s->nsess_open, 0);
}

static void test_soak(void **state)
{
    soak *s = &S;
    unsigned long cycles = env_ulong("ANYSOCK_SOAK_CYCLES", DEFAULT_CYCLES);
    unsigned long warm = cycles / 10 > 0 ? cycles / 10 : 1;
    const char *seed_env = getenv("ANYSOCK_SOAK_SEED");
    const char *skip_mem = mem_skip_reason();
    anysock_config cfg;
    int fds_before, fds_setup, fds_warm, fds_end, fds_after;
    long rss_before, rss_after;
    size_t heap_before, heap_after;
    double t0;
    unsigned long ok = 0, refused = 0, cancelled = 0;

    (void)state;
    assert_true(cycles > 0);
    s->seed = seed_env != NULL && *seed_env != '\0'
                  ? env_ulong("ANYSOCK_SOAK_SEED", 0)
                  : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    s->srv_rng = s->seed ^ 0x5bd1e995u;
    print_message("SOAK seed=%" PRIu64 " cycles=%lu warmup=%lu inflight=%d "
                  "(replay: ANYSOCK_SOAK_SEED=%" PRIu64 ")\n",
                  s->seed, cycles, warm, INFLIGHT, s->seed);
    fds_before = nt_count_fds();

    s->have_v6 = nt_have_ipv6();
    if (!s->have_v6)
        print_message("SOAK: no ::1 here; IPv6 cycles go to IPv4\n");
    s->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(s->loop);
    anysock_config_init(&cfg);
    cfg.hosts_file = "/dev/null";     /* numeric hosts only: no lookups */
    cfg.protocols = "ipv4,ipv6";
    assert_int_equal(anysock_ctx_new(s->loop, &cfg, &s->ctx), 0);

    snprintf(s->dir, sizeof s->dir, "/tmp/anysock-soak-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->live_path, sizeof s->live_path, "%.40s/live.sock", s->dir);
    snprintf(s->dead_path, sizeof s->dead_path, "%.40s/dead.sock", s->dir);
    snprintf(s->missing_path, sizeof s->missing_path, "%.40s/missing.sock",
             s->dir);
    start_server(s, V4, NULL);
    if (s->have_v6)
        start_server(s, V6, NULL);
    start_server(s, UNX, s->live_path);
    s->dead_fd[V4] = bound_only("127.0.0.1", s->dead_svc[V4]);
    s->dead_fd[V6] = s->have_v6 ? bound_only("::1", s->dead_svc[V6]) : -1;
    {
        /* a unix socket bound and not listening: refused, like TCP */
        anysock_addr u = {.family = AF_UNIX};
        anysock_sockaddr sa;

        assert_int_equal(anysock_pack_sockaddr(&u, 0, s->dead_path,
                                               strlen(s->dead_path), &sa),
                         0);
        s->dead_fd[UNX] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(s->dead_fd[UNX] >= 0);
        assert_int_equal(bind(s->dead_fd[UNX], &sa.u.sa, sa.len), 0);
    }
    s->free_sess = -1;
    for (int i = NSESS - 1; i >= 0; i--) {
        s->sess[i].next_free = s->free_sess;
        s->free_sess = i;
    }
    ev_prepare_init(&s->refill, on_refill);
    s->refill.data = s;
    ev_prepare_start(s->loop, &s->refill);
    ev_init(&s->tick, on_tick);
    s->tick.repeat = 0.5;
    fds_setup = nt_count_fds();

    t0 = nt_now();
    run_phase(s, warm);
    fds_warm = nt_count_fds();
    rss_before = rss_kb();
    heap_before = heap_in_use();
    run_phase(s, cycles);
    fds_end = nt_count_fds();
    rss_after = rss_kb();
    heap_after = heap_in_use();
    t0 = nt_now() - t0;

    ev_prepare_stop(s->loop, &s->refill);
    for (int f = 0; f < NFAM; f++) {
        anysock_guard_cancel(&s->srv[f].guard);
        if (s->dead_fd[f] >= 0)
            close(s->dead_fd[f]);
    }
    unlink(s->dead_path);
    /* the library left no watcher behind */
    assert_true(nt_loop_idle(s->loop));
    anysock_ctx_free(s->ctx);
    ev_loop_destroy(s->loop);
    /* the server's cancel removed live.sock: the directory is empty */
    assert_int_equal(rmdir(s->dir), 0);
    fds_after = nt_count_fds();

    for (int f = 0; f < NFAM; f++) {
        ok += s->out[OK][f];
        refused += s->out[REFUSED][f];
        cancelled += s->out[CANCELLED][f];
    }
    print_message("SOAK cycles=%lu v4=%lu v6=%lu unix=%lu ok=%lu "
                  "refused=%lu cancelled=%lu fds_before=%d fds_after=%d "
                  "rss_before_kb=%ld rss_after_kb=%ld heap_before=%zu "
                  "heap_after=%zu seconds=%.1f\n",
                  cycles, s->per_fam[V4], s->per_fam[V6], s->per_fam[UNX],
                  ok, refused, cancelled, fds_before, fds_after, rss_before,
                  rss_after, heap_before, heap_after, t0);
    print_message("SOAK detail: accepted=%lu/%lu/%lu rejected=%lu "
                  "echoed=%lu echo_rejected=%lu prepares=%lu "
                  "cancel_now=%lu cancel_prepare=%lu cancel_timer=%lu/%lu "
                  "fds_setup=%d fds_warm=%d fds_end=%d seed=%" PRIu64 "\n",
                  s->srv[V4].accepted, s->srv[V6].accepted,
                  s->srv[UNX].accepted, s->rejected, s->exch_echoed,
                  s->exch_closed, s->prepares,
                  s->by_action[A_CANCEL_NOW][CANCELLED],
                  s->by_action[A_CANCEL_PREPARE][CANCELLED],
                  s->by_action[A_CANCEL_TIMER][CANCELLED],
                  s->by_action[A_CANCEL_TIMER][OK] +
                      s->by_action[A_CANCEL_TIMER][REFUSED] +
                      s->by_action[A_CANCEL_TIMER][CANCELLED],
                  fds_setup, fds_warm, fds_end, s->seed);

    check_accounting(s);
    assert_int_equal(ok + refused + cancelled, cycles);
    /* every kind of cycle really happened */
    assert_true(cycles < 1000 || (ok > 0 && refused > 0 && cancelled > 0 &&
                                  s->rejected > 0 && s->exch_echoed > 0 &&
                                  s->by_action[A_CANCEL_TIMER][CANCELLED] > 0 &&
                                  s->by_action[A_CANCEL_TIMER][OK] > 0));
    assert_int_equal(fds_warm, fds_setup);
    assert_int_equal(fds_end, fds_setup);
    assert_int_equal(fds_after, fds_before);
    if (skip_mem != NULL) {
        print_message("SOAK: heap and RSS bounds skipped: %s\n", skip_mem);
        return;
    }
    if ((long)heap_after - (long)heap_before >= HEAP_BOUND)
        fail_msg("heap in use grew by %ld bytes (bound %d)",
                 (long)heap_after - (long)heap_before, HEAP_BOUND);
    if (rss_after - rss_before >= RSS_BOUND_KB)
        fail_msg("RSS grew by %ld kB (bound %d)", rss_after - rss_before,
                 RSS_BOUND_KB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soak),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
