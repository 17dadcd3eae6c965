/* What input can make the resolver do, and what a failure looks like:
 * a hostile zone's fan-out (a 64 KiB SRV reply whose targets each answer
 * with 64 KiB of A and AAAA records) is capped and quick per loop
 * iteration; one family failing is visible; names with a backslash are
 * refused before anything is asked; a FIFO swapped in for the hosts file
 * does not block; DNS failures get DNS-named statuses. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ares.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "harness/fakezone.h"
#include "harness/rtest.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

struct t {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    fakezone *zone;
    char server[64];
    char hosts[128];
    int fds;
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    int fd;

    if (t == NULL)
        return -1;
    t->fds = count_fds();
    t->loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(t->hosts, sizeof t->hosts, "%s/anysock-hosts-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if ((fd = mkstemp(t->hosts)) < 0)
        return -1;
    close(fd);
    if (t->loop == NULL || fakezone_start(&t->zone, t->server,
                                          sizeof t->server) != 0) {
        print_message("cannot start the fake zone\n");
        if (t->loop != NULL)
            ev_loop_destroy(t->loop);
        unlink(t->hosts);
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;

    anysock_ctx_free(t->ctx);
    fakezone_stop(t->zone);
    ev_loop_destroy(t->loop);
    unlink(t->hosts);
    assert_int_equal(count_fds(), t->fds);
    free(t);
    return 0;
}

static void ctx_zone(struct t *t, double timeout, int tries)
{
    anysock_config cfg;

    anysock_config_init(&cfg);
    cfg.dns_servers = t->server;
    cfg.hosts_file = t->hosts;
    cfg.dns_timeout = timeout;
    cfg.dns_tries = tries;
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &t->ctx), 0);
}

/* A short per-try timeout for the mute cases; wider under valgrind,
 * where an answer can take longer than 0.1 s to be read. */
static double short_timeout(void)
{
    return getenv("ANYSOCK_TEST_SLOW") ? 1.0 : 0.1;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the longest loop iteration: check runs first after the poll, the
 * next prepare last before the next one (ev.pod, "prepare and check") */

struct iter {
    ev_prepare prep;
    ev_check check;
    double woke, longest;
    double cpu, longest_cpu;     /* this thread's CPU time: preemption by
                                  * other processes does not count */
    size_t heap0, heap_peak;
    unsigned iterations;
};

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

static void check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct iter *it = anysock__container_of(w, struct iter, check);

    (void)loop;
    (void)revents;
    it->woke = now();
    it->cpu = cpu_now();
}

static void prep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct iter *it = anysock__container_of(w, struct iter, prep);
    size_t h = heap_used();

    (void)loop;
    (void)revents;
    if (it->woke > 0 && now() - it->woke > it->longest)
        it->longest = now() - it->woke;
    if (it->woke > 0 && cpu_now() - it->cpu > it->longest_cpu)
        it->longest_cpu = cpu_now() - it->cpu;
    it->woke = 0;
    it->iterations++;
    if (h > it->heap_peak)
        it->heap_peak = h;
}

static void iter_start(struct ev_loop *loop, struct iter *it)
{
    memset(it, 0, sizeof *it);
    it->heap0 = it->heap_peak = heap_used();
    ev_prepare_init(&it->prep, prep_cb);
    ev_check_init(&it->check, check_cb);
    ev_prepare_start(loop, &it->prep);
    ev_check_start(loop, &it->check);
    ev_unref(loop);
    ev_unref(loop);
}

static void iter_stop(struct ev_loop *loop, struct iter *it)
{
    ev_ref(loop);
    ev_ref(loop);
    ev_prepare_stop(loop, &it->prep);
    ev_check_stop(loop, &it->check);
}

/* ---- fan-out ------------------------------------------------------------- */

struct big {
    int calls, status;
    size_t n, v4;
    bool ordered;       /* every inet before any inet6 */
    bool ports_ok;      /* one port per group, groups in order */
};

static unsigned tport(const anysock_target *t)
{
    return t->family == AF_INET ? ntohs(t->addr.u.in.sin_port)
                                : ntohs(t->addr.u.in6.sin6_port);
}

static void big_cb(void *data, int status, const anysock_target *t,
                   size_t n)
{
    struct big *b = data;

    b->calls++;
    b->status = status;
    b->n = n;
    b->ordered = b->ports_ok = true;
    for (size_t i = 0; i < n; i++) {
        if (t[i].family == AF_INET)
            b->v4++;
        if (i > 0 && t[i].family == AF_INET && t[i - 1].family != AF_INET)
            b->ordered = false;
        /* within a family, groups of MAX_ADDRS with one port each */
        if (i % ANYSOCK_RESOLVE_MAX_ADDRS != 0 &&
            tport(&t[i]) != tport(&t[i - 1]))
            b->ports_ok = false;
    }
}

static void fanout(struct t *t, const char *node)
{
    struct big b = {0};
    struct iter it;
    anysock_guard *g = NULL;
    unsigned q0;
    double t0, el, bound = 0.010;
    bool slow = getenv("ANYSOCK_TEST_SLOW") != NULL;
    const size_t want = (size_t)ANYSOCK_RESOLVE_MAX_SRV *
                        ANYSOCK_RESOLVE_MAX_ADDRS * 2;

    ctx_zone(t, slow ? 10 : 5, 1);
    q0 = fakezone_queries(t->zone);
    iter_start(t->loop, &it);
    t0 = now();
    /* "x=80": SRV _x._tcp.hz.fz first, as 7.17 asks */
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, node, "x=80", NULL, 0,
                                              0, big_cb, &b, &g), 0);
    assert_true(run_until(t->loop, &b.calls, 1, slow ? 600 : 60));
    el = now() - t0;
    iter_stop(t->loop, &it);
    print_message("%s: %zu targets (%zu inet) in %.2f s, %u "
                  "questions, %u iterations, longest %.2f ms CPU (%.2f ms "
                  "wall), heap peak +%.1f MiB\n", node, b.n, b.v4, el,
                  fakezone_queries(t->zone) - q0, it.iterations,
                  it.longest_cpu * 1e3, it.longest * 1e3,
                  (double)(it.heap_peak - it.heap0) / (1 << 20));
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.status, 0);
    /* 64 SRV targets, 64 addresses per family each */
    assert_int_equal(b.n, want);
    assert_int_equal(b.v4, want / 2);
    assert_true(b.ordered);
    assert_true(b.ports_ok);
    assert_int_equal(anysock_resolve_family_status(g, AF_INET), 0);
    assert_int_equal(anysock_resolve_family_status(g, AF_INET6), 0);
    anysock_guard_cancel(&g);
    /* SRV and each kept target's A and AAAA, each over UDP then TCP */
    assert_true(fakezone_queries(t->zone) - q0 <=
                2 * (1 + 2 * ANYSOCK_RESOLVE_MAX_SRV));
    /* c-ares's own reading of each 64 KiB TCP reply counts here too */
    if (slow)
        print_message("(valgrind: no timing bound)\n");
    else
        assert_true(it.longest_cpu < bound * (UNDER_ASAN ? 5 : 1));
    if (!UNDER_ASAN)
        assert_true(it.heap_peak - it.heap0 < (size_t)16 << 20);
}

/* hz: owners are compression pointers (4,094 A per reply); hu: owners
 * written out in full, each one expanded and compared (2,800 A). */
static void test_hostile_zone_fanout_is_capped_and_quick(void **state)
{
    struct t *t = *state;

    fanout(t, "hz.fz");
    fanout(t, "hu.fz");
}

struct fan {
    int answers, done, full;
    size_t ngroups;
    int last_group_seen;
};

static void fan_cb(void *data, const anysock__rs_event *ev)
{
    struct fan *f = data;

    if (ev->kind == ANYSOCK__RS_DONE) {
        f->done++;
        return;
    }
    f->answers++;
    f->ngroups = ev->ngroups;
    if (ev->count == ANYSOCK_RESOLVE_MAX_ADDRS && ev->status == 0)
        f->full++;
}

/* The same zone through the streaming resolver: one ANSWER per (target,
 * family), each capped, none holding up the loop. */
static void test_hostile_zone_through_the_stream(void **state)
{
    struct t *t = *state;
    struct fan f = {0};
    struct iter it;
    anysock__op *op;
    bool slow = getenv("ANYSOCK_TEST_SLOW") != NULL;

    ctx_zone(t, slow ? 10 : 5, 1);
    iter_start(t->loop, &it);
    assert_int_equal(anysock__resolve_stream(t->ctx, "hz.fz", "x=80", 0, 1,
                                             fan_cb, &f, &op), 0);
    assert_true(run_until(t->loop, &f.done, 1, slow ? 600 : 60));
    iter_stop(t->loop, &it);
    print_message("stream: %d answers (%d full) over %zu groups, longest "
                  "iteration %.2f ms CPU\n", f.answers, f.full, f.ngroups,
                  it.longest_cpu * 1e3);
    assert_int_equal(f.ngroups, ANYSOCK_RESOLVE_MAX_SRV);
    assert_int_equal(f.answers, 2 * ANYSOCK_RESOLVE_MAX_SRV);
    assert_int_equal(f.full, 2 * ANYSOCK_RESOLVE_MAX_SRV);
    if (!slow)
        assert_true(it.longest_cpu < 0.010 * (UNDER_ASAN ? 5 : 1));
    assert_true(loop_drains(t->loop, 5));
}

/* ---- one family failing -------------------------------------------------- */

static void test_one_family_failing_is_visible(void **state)
{
    struct t *t = *state;
    static const struct {
        const char *name;
        int v6;
    } cases[] = {
        {"a6mute.fz", ANYSOCK_EDNSTIMEOUT},
        {"a6servfail.fz", ANYSOCK_ESERVFAIL},
    };

    ctx_zone(t, short_timeout(), 1);
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(cases); i++) {
        struct rec r;
        char buf[256];

        memset(&r, 0, sizeof r);
        assert_int_equal(anysock_resolve_sockaddr(t->ctx, cases[i].name,
                                                  "80", NULL, 0, 0,
                                                  rec_resolve_cb, &r,
                                                  &r.guard), 0);
        r.returned = true;
        assert_true(run_until(t->loop, &r.calls, 1, 10));
        /* the callback alone looks like a name with A only ... */
        assert_int_equal(r.status, 0);
        assert_string_equal(rec_str(&r, buf, sizeof buf),
                            "inet 127.0.0.80 80");
        /* ... the accessor tells the difference */
        assert_int_equal(anysock_resolve_family_status(r.guard, AF_INET), 0);
        assert_int_equal(anysock_resolve_family_status(r.guard, AF_INET6),
                         cases[i].v6);
        print_message("%s: inet ok, inet6 %s\n", cases[i].name,
                      anysock_err_name(cases[i].v6));
        anysock_guard_cancel(&r.guard);

        memset(&r, 0, sizeof r);
        assert_int_equal(anysock_inet_aton(t->ctx, cases[i].name,
                                           rec_aton_cb, &r, &r.guard), 0);
        r.returned = true;
        assert_true(run_until(t->loop, &r.calls, 1, 10));
        assert_int_equal(r.n, 1);
        assert_int_equal(anysock_resolve_family_status(r.guard, AF_INET6),
                         cases[i].v6);
        anysock_guard_cancel(&r.guard);
    }
    assert_int_equal(anysock_resolve_family_status(NULL, AF_INET), -EINVAL);
    assert_true(loop_drains(t->loop, 5));
}

struct fam_rec {
    int done;
    int st[2];
    size_t count[2];
};

static void fam_cb(void *data, const anysock__rs_event *ev)
{
    struct fam_rec *f = data;

    if (ev->kind == ANYSOCK__RS_DONE) {
        f->done++;
        return;
    }
    f->st[ev->family == AF_INET6] = ev->status;
    f->count[ev->family == AF_INET6] = ev->count;
}

static void test_stream_reports_each_familys_status(void **state)
{
    struct t *t = *state;
    struct fam_rec f = {0};
    anysock__op *op;

    ctx_zone(t, short_timeout(), 1);
    assert_int_equal(anysock__resolve_stream(t->ctx, "a6mute.fz", "80", 0,
                                             1, fam_cb, &f, &op), 0);
    assert_true(run_until(t->loop, &f.done, 1, 10));
    assert_int_equal(f.count[0], 1);
    assert_int_equal(f.st[0], 0);
    assert_int_equal(f.count[1], 0);
    assert_int_equal(f.st[1], ANYSOCK_EDNSTIMEOUT);
    assert_true(loop_drains(t->loop, 5));
}

/* ---- names --------------------------------------------------------------- */

static void test_backslash_names_are_refused(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    struct fam_rec f = {0};
    anysock__op *op;
    char last[256];
    unsigned q0;

    ctx_zone(t, 1, 1);
    q0 = fakezone_queries(t->zone);
    /* c-ares 1.18 would ask one label "good.xAy" while the check counted
     * two labels "good\" and "x\065y": refused before any question */
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "good\\.x\\065y", "80",
                                              NULL, 0, 0, rec_resolve_cb, &r,
                                              NULL), -EINVAL);
    assert_int_equal(anysock_inet_aton(t->ctx, "good\\.x\\065y",
                                       rec_aton_cb, &r, NULL), -EINVAL);
    assert_int_equal(anysock__resolve_stream(t->ctx, "a\\046b", "80", 0, 1,
                                             fam_cb, &f, &op), -EINVAL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "\\", "80", NULL, 0, 0,
                                              rec_resolve_cb, &r, NULL),
                     -EINVAL);
    assert_true(loop_drains(t->loop, 1));
    assert_int_equal(r.calls, 0);
    assert_int_equal(fakezone_queries(t->zone), q0);
    /* a service name with one: the SRV name cannot be asked as written,
     * so there is no SRV question; the node is still asked as usual */
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "nx.fz", "a\\.b=80",
                                              NULL, 4, 0, rec_resolve_cb, &r,
                                              NULL), 0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 10));
    assert_int_equal(r.status, -ENXIO);
    assert_true(fakezone_queries(t->zone) - q0 >= 1);
    assert_int_equal(fakezone_underscored(t->zone), 0);
    fakezone_last_qname(t->zone, last, sizeof last);
    assert_string_equal(last, "nx.fz.");
}

/* ---- statuses ------------------------------------------------------------ */

/* One resolve_sockaddr(node, "80") to its callback; the targets joined. */
static const char *resolve_one(struct t *t, const char *node, struct rec *r,
                               char *buf, size_t len)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, node, "80", NULL, 0,
                                              0, rec_resolve_cb, r, NULL),
                     0);
    r->returned = true;
    assert_true(run_until(t->loop, &r->calls, 1, 30));
    assert_false(r->early);
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(r->calls, 1);
    return rec_str(r, buf, len);
}

static void test_every_cares_status_maps_to_a_dns_status(void **state)
{
    static const struct {
        int ares, ours;
    } map[] = {
        {ARES_SUCCESS, 0},
        {ARES_ENODATA, -ENXIO},
        {ARES_ENOTFOUND, -ENXIO},
        {ARES_ETIMEOUT, ANYSOCK_EDNSTIMEOUT},
        {ARES_ECONNREFUSED, ANYSOCK_EDNSCONN},
        {ARES_ESERVFAIL, ANYSOCK_ESERVFAIL},
        {ARES_EREFUSED, ANYSOCK_EREFUSED},
        {ARES_EBADRESP, ANYSOCK_EBADRESP},
        {ARES_EFORMERR, ANYSOCK_EDNS},
        {ARES_ENOTIMP, ANYSOCK_EDNS},
        {ARES_EBADQUERY, -EINVAL},
        {ARES_EBADNAME, -EINVAL},
        {ARES_EBADFAMILY, -EINVAL},
        {ARES_ENOMEM, -ENOMEM},
        {ARES_EDESTRUCTION, -ECANCELED},
        {ARES_ECANCELLED, -ECANCELED},
        {ARES_EOF, ANYSOCK_EDNS},
        {ARES_EFILE, ANYSOCK_EDNS},
        {ARES_EBADSTR, ANYSOCK_EDNS},
        {ARES_ENONAME, ANYSOCK_EDNS},
        {ARES_EBADHINTS, ANYSOCK_EDNS},
        {ARES_ENOTINITIALIZED, ANYSOCK_EDNS},
        {ARES_EBADFLAGS, ANYSOCK_EDNS},
    };

    (void)state;
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(map); i++) {
        int s = anysock__dns_status(map[i].ares);

        if (s != map[i].ours)
            print_message("c-ares %s: %s, want %s\n",
                          ares_strerror(map[i].ares), anysock_err_name(s),
                          anysock_err_name(map[i].ours));
        assert_int_equal(s, map[i].ours);
    }
    /* no c-ares status reads like a connection's */
    for (int a = 0; a <= 40; a++) {
        int s = anysock__dns_status(a);

        assert_true(s != -ECONNREFUSED && s != -ETIMEDOUT &&
                    s != -ECONNRESET && s != -EHOSTUNREACH);
        if (s != 0 && s != -ENXIO && s != -EINVAL && s != -ENOMEM &&
            s != -ECANCELED)
            assert_non_null(strstr(anysock_strerror(s), "DNS"));
    }
}

static void test_dns_tcp_reset_is_ednsconn(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[64];
    double t0 = now();

    ctx_zone(t, 0.5, 2);
    /* a truncated UDP answer, then the TCP connection is reset */
    assert_string_equal(resolve_one(t, "reset.fz", &r, buf, sizeof buf), "");
    print_message("TCP reset by the DNS server: %s (\"%s\") after %.3f s, "
                  "%u resets\n", anysock_err_name(r.status),
                  anysock_strerror(r.status), now() - t0,
                  fakezone_resets(t->zone));
    assert_true(fakezone_resets(t->zone) >= 1);
    assert_int_equal(r.status, ANYSOCK_EDNSCONN);
}

/* ---- the A/AAAA reply parser against c-ares's ------------------------- */

static uint64_t xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

struct gen {
    unsigned char b[1400];
    size_t len;
    uint64_t rng;
};

static void g8(struct gen *g, unsigned v)
{
    if (g->len < sizeof g->b)
        g->b[g->len++] = (unsigned char)v;
}

static void g16(struct gen *g, unsigned v)
{
    g8(g, v >> 8);
    g8(g, v & 0xff);
}

/* A name: 1-3 labels from a small alphabet (case varies, sometimes an
 * odd byte), or a pointer to the question or to an earlier name. */
static void gname(struct gen *g, const size_t *names, size_t nnames)
{
    static const char alpha[] = "aAbB-x_/.\\\x01";
    unsigned r = (unsigned)(xs(&g->rng) % 8);

    if (nnames > 0 && r < 5) {
        size_t at = names[xs(&g->rng) % nnames];

        g16(g, 0xc000 | (unsigned)at);
        return;
    }
    for (unsigned l = 1 + (unsigned)(xs(&g->rng) % 3); l > 0; l--) {
        unsigned n = 1 + (unsigned)(xs(&g->rng) % 3);

        g8(g, n);
        for (unsigned i = 0; i < n; i++) {
            unsigned k = (unsigned)(xs(&g->rng) % 40);

            g8(g, (unsigned char)(k < 34 ? alpha[k % 4] : alpha[k - 30]));
        }
    }
    g8(g, 0);
}

static void gen_reply(struct gen *g, unsigned qtype)
{
    size_t names[32], nn = 0;
    unsigned an = (unsigned)(xs(&g->rng) % 12);

    g->len = 0;
    g16(g, 0x1234);
    g16(g, 0x8180);
    g16(g, xs(&g->rng) % 16 ? 1 : 2);
    g16(g, an);
    g16(g, 0);
    g16(g, 0);
    names[nn++] = g->len;
    gname(g, NULL, 0);
    g16(g, qtype);
    g16(g, 1);
    for (unsigned i = 0; i < an; i++) {
        static const unsigned types[] = {1, 28, 5, 1, 28, 5, 16, 1};
        unsigned t = types[xs(&g->rng) % 8];
        unsigned rl = t == 1 ? 4 : t == 28 ? 16 : 0;
        size_t rdat;

        if (nn < 32)
            names[nn++] = g->len;
        gname(g, names, nn - 1);
        g16(g, t);
        g16(g, xs(&g->rng) % 10 ? 1 : 3);
        g16(g, 0);
        g16(g, 60);
        if (xs(&g->rng) % 10 == 0)
            rl = (unsigned)(xs(&g->rng) % 20);
        if (t == 5) {
            size_t at = g->len;

            g16(g, 0);
            rdat = g->len;
            if (nn < 32)
                names[nn++] = rdat;
            gname(g, names, nn - 1);
            g->b[at] = (unsigned char)((g->len - rdat) >> 8);
            g->b[at + 1] = (unsigned char)(g->len - rdat);
            continue;
        }
        g16(g, rl);
        for (unsigned k = 0; k < rl; k++)
            g8(g, (unsigned)xs(&g->rng));
    }
    /* then sometimes break it: flip bytes, cut it short */
    for (unsigned f = (unsigned)(xs(&g->rng) % 4); f > 0 && g->len; f--)
        g->b[xs(&g->rng) % g->len] ^= (unsigned char)(1 + xs(&g->rng) % 255);
    if (xs(&g->rng) % 5 == 0 && g->len > 0)
        g->len = xs(&g->rng) % g->len;
}

static void test_reply_parser_agrees_with_cares(void **state)
{
    struct gen g;
    uint64_t seed = (uint64_t)time(NULL);
    unsigned runs = getenv("ANYSOCK_TEST_SLOW") ? 20000 : 200000;
    unsigned ok = 0, empty = 0, bad = 0;

    (void)state;
    if (getenv("ANYSOCK_SEED"))
        seed = strtoull(getenv("ANYSOCK_SEED"), NULL, 10);
    print_message("seed %llu (ANYSOCK_SEED=)\n", (unsigned long long)seed);
    g.rng = seed | 1;
    for (unsigned i = 0; i < runs; i++) {
        unsigned qtype = i % 2 ? 28 : 1;
        struct hostent *he = NULL;
        uint8_t mine[ANYSOCK_RESOLVE_MAX_ADDRS][16];
        size_t n = 0, theirs = 0;
        int rc, st;

        gen_reply(&g, qtype);
        rc = qtype == 1 ? ares_parse_a_reply(g.b, (int)g.len, &he, NULL,
                                             NULL)
                        : ares_parse_aaaa_reply(g.b, (int)g.len, &he, NULL,
                                                NULL);
        st = anysock__parse_addrs(g.b, (int)g.len, (int)qtype, mine,
                                  ANYSOCK_RESOLVE_MAX_ADDRS, &n);
        if (rc == ARES_SUCCESS && he != NULL)
            for (char **a = he->h_addr_list; *a != NULL; a++, theirs++)
                if (theirs < n &&
                    memcmp(*a, mine[theirs], qtype == 1 ? 4 : 16) != 0)
                    fail_msg("run %u: address %zu differs", i, theirs);
        if (st != rc || n != theirs)
            fail_msg("run %u (seed %llu): c-ares %s with %zu, ours %s with "
                     "%zu", i, (unsigned long long)seed, ares_strerror(rc),
                     theirs, ares_strerror(st), n);
        if (he != NULL)
            ares_free_hostent(he);
        if (rc == ARES_SUCCESS && theirs > 0)
            ok++;
        else if (rc == ARES_SUCCESS || rc == ARES_ENODATA)
            empty++;
        else
            bad++;
    }
    print_message("%u replies: %u with addresses, %u without, %u errors: "
                  "the same as c-ares in each\n", runs, ok, empty, bad);
    assert_true(ok > runs / 50 && bad > runs / 50);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_hostile_zone_fanout_is_capped_and_quick),
        T(test_hostile_zone_through_the_stream),
        T(test_one_family_failing_is_visible),
        T(test_stream_reports_each_familys_status),
        T(test_backslash_names_are_refused),
        cmocka_unit_test(test_every_cares_status_maps_to_a_dns_status),
        T(test_dns_tcp_reset_is_ednsconn),
        cmocka_unit_test(test_reply_parser_agrees_with_cares),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
