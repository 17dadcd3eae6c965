/* Issue 17 without resolv.conf changes: the TTL cache (positive answers
 * for their TTL, RFC 2308 negative caching, the caps, LRU eviction at the
 * bound, hits only after the start call returned, SRV, off by default,
 * ANYSOCK_DNS_CACHE), hosts-first (ANYSOCK_HOSTS_FIRST) and "no DNS
 * servers" (ANYSOCK_ENOSERVERS). Questions are counted at the server,
 * tests/harness/ttldns.c, which runs on the test's own loop.
 * ANYSOCK_TEST_SLOW=1 (valgrind) widens the time bounds. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "harness/rtest.h"
#include "harness/ttldns.h"
#include "harness/failalloc.h"

struct t {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    ttldns *dns;
    uint16_t port;
    char server[32];
    char hosts[256], conf[256];
    int fds;
};

static bool slow;

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int fd;

    if (t == NULL)
        return -1;
    unsetenv("ANYSOCK_DNS_CACHE");
    unsetenv("ANYSOCK_HOSTS_FIRST");
    unsetenv("ANYSOCK_DNS_SERVERS");
    t->fds = count_fds();
    t->loop = ev_loop_new(EVFLAG_AUTO);
    if (t->loop == NULL ||
        ttldns_start(t->loop, "127.0.0.1", 0, "127.0.0.9", &t->dns,
                     &t->port) < 0)
        return -1;
    snprintf(t->server, sizeof t->server, "127.0.0.1:%u", t->port);
    snprintf(t->hosts, sizeof t->hosts, "%s/anysock-hosts-XXXXXX", tmp);
    snprintf(t->conf, sizeof t->conf, "%s/anysock-resolv-XXXXXX", tmp);
    if ((fd = mkstemp(t->hosts)) < 0)
        return -1;
    close(fd);
    if ((fd = mkstemp(t->conf)) < 0)
        return -1;
    close(fd);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;

    anysock_ctx_free(t->ctx);
    ttldns_stop(t->dns);
    ev_loop_destroy(t->loop);
    unlink(t->hosts);
    unlink(t->conf);
    unsetenv("ANYSOCK_DNS_CACHE");
    unsetenv("ANYSOCK_HOSTS_FIRST");
    assert_int_equal(count_fds(), t->fds);
    free(t);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void cfg_base(struct t *t, anysock_config *cfg)
{
    anysock_config_init(cfg);
    cfg->dns_servers = t->server;
    cfg->hosts_file = t->hosts;
    cfg->dns_timeout = 0.5;
    cfg->dns_tries = 1;
}

static void ctx_with(struct t *t, const anysock_config *cfg)
{
    assert_int_equal(anysock_ctx_new(t->loop, cfg, &t->ctx), 0);
    ev_now_update(t->loop);
}

/* A ctx with a cache of `size` entries (0: none given). */
static void ctx_cache(struct t *t, int size)
{
    anysock_config cfg;

    cfg_base(t, &cfg);
    cfg.dns_cache = size;
    ctx_with(t, &cfg);
}

/* resolve_sockaddr(name, svc, family 4) to its end; checks the callback
 * rules and returns the status; *host gets the first address. */
static int resolve4(struct t *t, const char *name, const char *svc,
                    char *host, size_t hostlen, unsigned *port)
{
    struct rec r;
    anysock_addr a;
    uint16_t p = 0;

    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, name, svc, NULL, 4,
                                              0, rec_resolve_cb, &r, NULL),
                     0);
    r.returned = true;
    assert_int_equal(r.calls, 0);
    assert_true(run_until(t->loop, &r.calls, 1, 10));
    assert_false(r.early);
    assert_int_equal(r.calls, 1);
    if (host != NULL) {
        host[0] = '\0';
        if (r.n > 0 &&
            anysock_unpack_sockaddr(&r.t[0].addr.u.sa, r.t[0].addr.len, &a,
                                    &p, NULL, NULL) == 0)
            anysock_format_address(&a, host, hostlen);
    }
    if (port != NULL)
        *port = p;
    return r.status;
}

#define Q(name) ttldns_count(t->dns, name, 1)

static void wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    *(int *)w->data = 1;
}

/* Let `secs` pass on the loop (run_for stops once nothing is active). */
static void wait_for(struct ev_loop *loop, double secs)
{
    ev_timer w;
    int done = 0;

    ev_now_update(loop);
    ev_timer_init(&w, wait_cb, secs, 0.);
    w.data = &done;
    ev_timer_start(loop, &w);
    while (!done)
        ev_run(loop, EVRUN_ONCE);
}

static anysock_ctx_stats stats(struct t *t)
{
    anysock_ctx_stats st;

    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    assert_int_equal(anysock_ctx_stats_get(t->ctx, &st), 0);
    return st;
}

/* ---- the cache ----------------------------------------------------------- */

static void test_cache_is_off_by_default(void **state)
{
    struct t *t = *state;
    char host[64];
    anysock_ctx_stats st;

    ctx_cache(t, 0);
    assert_int_equal(resolve4(t, "a300.test", "80", host, sizeof host, NULL),
                     0);
    assert_string_equal(host, "127.0.0.9");
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a300.test"), 2);   /* 7.17: asks every time */
    st = stats(t);
    assert_int_equal(st.cache_hits, 0);
    assert_int_equal(st.cache_misses, 0);
    assert_int_equal(st.cache_evictions, 0);
}

static void test_cache_answers_within_ttl_once(void **state)
{
    struct t *t = *state;
    char host[64];
    anysock_ctx_stats st;

    ctx_cache(t, 16);
    assert_int_equal(resolve4(t, "a300.test", "80", host, sizeof host, NULL),
                     0);
    assert_int_equal(resolve4(t, "A300.Test", "81", host, sizeof host, NULL),
                     0);
    assert_string_equal(host, "127.0.0.9");
    assert_int_equal(Q("a300.test"), 1);
    st = stats(t);
    assert_int_equal(st.cache_hits, 1);
    assert_int_equal(st.cache_misses, 1);
    assert_true(loop_drains(t->loop, 5));
}

static void test_cache_asks_again_after_ttl(void **state)
{
    struct t *t = *state;

    ctx_cache(t, 16);
    assert_int_equal(resolve4(t, "a1.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "a1.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a1.test"), 1);
    wait_for(t->loop, 1.3);
    assert_int_equal(resolve4(t, "a1.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a1.test"), 2);
}

static void test_cache_never_keeps_ttl_zero(void **state)
{
    struct t *t = *state;

    ctx_cache(t, 16);
    assert_int_equal(resolve4(t, "a0.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "a0.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a0.test"), 2);
}

/* A CNAME with TTL 1 before an A with TTL 600: the chain's least. */
static void test_cache_ttl_is_the_chains_least(void **state)
{
    struct t *t = *state;
    char host[64];

    ctx_cache(t, 16);
    assert_int_equal(resolve4(t, "c1.test", "80", host, sizeof host, NULL),
                     0);
    assert_string_equal(host, "127.0.0.9");
    assert_int_equal(resolve4(t, "c1.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("c1.test"), 1);
    wait_for(t->loop, 1.3);
    assert_int_equal(resolve4(t, "c1.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("c1.test"), 2);
}

/* RFC 2308 §5: NXDOMAIN and NODATA for min(SOA TTL, SOA MINIMUM); no
 * SOA, no caching. */
static void test_cache_negative_per_rfc2308(void **state)
{
    struct t *t = *state;
    static const char *const names[] = {
        "nx30m1.test",   /* MINIMUM the lesser */
        "nx1m30.test",   /* the SOA's TTL the lesser */
        "nd30m1.test",   /* NODATA */
    };

    ctx_cache(t, 16);
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(names); i++) {
        assert_int_equal(resolve4(t, names[i], "80", NULL, 0, NULL),
                         -ENXIO);
        assert_int_equal(resolve4(t, names[i], "80", NULL, 0, NULL),
                         -ENXIO);
        assert_int_equal(Q(names[i]), 1);
    }
    wait_for(t->loop, 1.3);
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(names); i++) {
        assert_int_equal(resolve4(t, names[i], "80", NULL, 0, NULL),
                         -ENXIO);
        assert_int_equal(Q(names[i]), 2);
    }
    assert_int_equal(resolve4(t, "nxnosoa.test", "80", NULL, 0, NULL),
                     -ENXIO);
    assert_int_equal(resolve4(t, "nxnosoa.test", "80", NULL, 0, NULL),
                     -ENXIO);
    assert_int_equal(Q("nxnosoa.test"), 2);
}

static void test_cache_caps_positive_and_negative(void **state)
{
    struct t *t = *state;
    anysock_config cfg;

    cfg_base(t, &cfg);
    cfg.dns_cache = 16;
    cfg.dns_cache_max_ttl = 3;
    cfg.dns_cache_max_negative_ttl = 1;
    ctx_with(t, &cfg);
    assert_int_equal(resolve4(t, "a600.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "nx600m600.test", "80", NULL, 0, NULL),
                     -ENXIO);
    assert_int_equal(resolve4(t, "nx600m600.test", "80", NULL, 0, NULL),
                     -ENXIO);
    assert_int_equal(Q("nx600m600.test"), 1);
    wait_for(t->loop, 1.3);
    /* the negative cap passed, the positive one not yet */
    assert_int_equal(resolve4(t, "nx600m600.test", "80", NULL, 0, NULL),
                     -ENXIO);
    assert_int_equal(resolve4(t, "a600.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("nx600m600.test"), 2);
    assert_int_equal(Q("a600.test"), 1);
    wait_for(t->loop, 2);
    assert_int_equal(resolve4(t, "a600.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a600.test"), 2);
}

static void test_cache_evicts_least_recently_used(void **state)
{
    struct t *t = *state;
    anysock_ctx_stats st;

    ctx_cache(t, 2);
    assert_int_equal(resolve4(t, "a300.x.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "a300.y.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "a300.x.test", "80", NULL, 0, NULL), 0);
    /* x was used last: y goes */
    assert_int_equal(resolve4(t, "a300.z.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "a300.x.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "a300.y.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a300.x.test"), 1);
    assert_int_equal(Q("a300.y.test"), 2);
    assert_int_equal(Q("a300.z.test"), 1);
    st = stats(t);
    assert_int_equal(st.cache_hits, 2);
    assert_int_equal(st.cache_misses, 4);
    assert_int_equal(st.cache_evictions, 2);   /* y, then z */
}

static void test_cache_hit_calls_back_after_return(void **state)
{
    struct t *t = *state;
    struct rec r;
    anysock_guard *g = NULL;
    anysock_ctx_stats st;

    ctx_cache(t, 16);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    /* a hit: nothing inside the call, once from the loop */
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "a300.test", "80",
                                              NULL, 4, 0, rec_resolve_cb, &r,
                                              &g), 0);
    r.returned = true;
    assert_int_equal(r.calls, 0);
    assert_true(run_until(t->loop, &r.calls, 1, 5));
    assert_false(r.early);
    assert_int_equal(r.status, 0);
    anysock_guard_cancel(&g);
    /* a hit cancelled before the loop ran: never */
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "a300.test", "80",
                                              NULL, 4, 0, rec_resolve_cb, &r,
                                              &g), 0);
    anysock_guard_cancel(&g);
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(r.calls, 0);
    /* inet_aton the same way */
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_inet_aton(t->ctx, "a300.test", rec_aton_cb, &r,
                                       NULL), 0);
    r.returned = true;
    assert_int_equal(r.calls, 0);
    assert_true(run_until(t->loop, &r.calls, 1, 5));
    assert_false(r.early);
    assert_int_equal(Q("a300.test"), 1);
    st = stats(t);
    assert_true(st.cache_hits >= 3);
}

static void test_cache_keeps_srv_answers(void **state)
{
    struct t *t = *state;
    char host[64];
    unsigned port;

    ctx_cache(t, 16);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(resolve4(t, "s300.test", "x=1", host, sizeof host,
                                  &port), 0);
        assert_string_equal(host, "127.0.0.9");
        assert_int_equal(port, 8080);
    }
    assert_int_equal(ttldns_count(t->dns, "_x._tcp.s300.test", 33), 1);
    assert_int_equal(Q("a300.test"), 1);
}

static void test_cache_from_environment(void **state)
{
    struct t *t = *state;
    anysock_config cfg;
    anysock_ctx *c = NULL;

    cfg_base(t, &cfg);
    setenv("ANYSOCK_DNS_CACHE", "x8", 1);
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &c), ANYSOCK_EENVCACHE);
    setenv("ANYSOCK_DNS_CACHE", "99999999999", 1);
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &c), ANYSOCK_EENVCACHE);
    assert_null(c);
    /* < 0 in the config: off whatever the environment says */
    setenv("ANYSOCK_DNS_CACHE", "8", 1);
    cfg.dns_cache = -1;
    ctx_with(t, &cfg);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a300.test"), 2);
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    cfg.dns_cache = 0;
    ctx_with(t, &cfg);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a300.test"), 3);
    assert_int_equal(stats(t).cache_hits, 1);
    setenv("ANYSOCK_DNS_CACHE", "0", 1);
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    ctx_with(t, &cfg);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a300.test"), 4);
    cfg.dns_cache_max_ttl = -1;
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &c), ANYSOCK_ECONFIG);
}

/* ---- hosts first --------------------------------------------------------- */

static double timed_resolve(struct t *t, const char *name, char *host,
                            size_t hostlen, int *status)
{
    double t0;

    ev_now_update(t->loop);
    t0 = ev_time();
    *status = resolve4(t, name, "80", host, hostlen, NULL);
    return ev_time() - t0;
}

static void test_hosts_first_answers_without_dns(void **state)
{
    struct t *t = *state;
    anysock_config cfg;
    char host[64];
    int st;
    double dt, bound = slow ? 0.1 : 0.01;

    write_file(t->hosts, "127.0.0.77 hostonly.test\n");
    ttldns_mute(t->dns, 1);
    cfg_base(t, &cfg);
    cfg.hosts_first = 1;
    ctx_with(t, &cfg);
    dt = timed_resolve(t, "HostOnly.test", host, sizeof host, &st);
    print_message("hosts-first, mute server: %.2f ms\n", dt * 1e3);
    assert_int_equal(st, 0);
    assert_string_equal(host, "127.0.0.77");
    assert_true(dt < bound);
    assert_int_equal(ttldns_total(t->dns), 0);
    /* inet_aton too */
    {
        struct rec r;

        memset(&r, 0, sizeof r);
        assert_int_equal(anysock_inet_aton(t->ctx, "hostonly.test",
                                           rec_aton_cb, &r, NULL), 0);
        r.returned = true;
        assert_true(run_until(t->loop, &r.calls, 1, 1));
        assert_false(r.early);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.n, 1);
    }
    assert_int_equal(ttldns_total(t->dns), 0);
    /* a name the file lacks still goes to DNS */
    ttldns_mute(t->dns, 0);
    assert_int_equal(resolve4(t, "a300.test", "80", host, sizeof host, NULL),
                     0);
    assert_string_equal(host, "127.0.0.9");
    assert_int_equal(Q("a300.test"), 1);
}

static void test_hosts_first_off_waits_for_dns(void **state)
{
    struct t *t = *state;
    anysock_config cfg;
    char host[64];
    int st;
    double dt;

    write_file(t->hosts, "127.0.0.77 hostonly.test\n");
    ttldns_mute(t->dns, 1);
    cfg_base(t, &cfg);
    ctx_with(t, &cfg);
    dt = timed_resolve(t, "hostonly.test", host, sizeof host, &st);
    print_message("DNS first, mute server: %.2f ms\n", dt * 1e3);
    /* 7.17's order: the hosts file after DNS gave up (0.5 s, 1 try:
     * a 1 s deadline) */
    assert_int_equal(st, 0);
    assert_string_equal(host, "127.0.0.77");
    assert_true(dt > 0.4);
    assert_int_equal(Q("hostonly.test"), 1);
}

static void test_hosts_first_from_environment(void **state)
{
    struct t *t = *state;
    anysock_config cfg;
    anysock_ctx *c = NULL;
    char host[64];
    int st;
    double dt;

    write_file(t->hosts, "127.0.0.77 hostonly.test\n");
    ttldns_mute(t->dns, 1);
    cfg_base(t, &cfg);
    setenv("ANYSOCK_HOSTS_FIRST", "yes", 1);
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &c),
                     ANYSOCK_EENVHFIRST);
    setenv("ANYSOCK_HOSTS_FIRST", "2", 1);
    assert_int_equal(anysock_ctx_new(t->loop, &cfg, &c),
                     ANYSOCK_EENVHFIRST);
    assert_null(c);
    setenv("ANYSOCK_HOSTS_FIRST", "1", 1);
    ctx_with(t, &cfg);
    dt = timed_resolve(t, "hostonly.test", host, sizeof host, &st);
    assert_int_equal(st, 0);
    assert_true(dt < (slow ? 0.1 : 0.01));
    assert_int_equal(ttldns_total(t->dns), 0);
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    /* -1 in the config wins over the environment */
    cfg.hosts_first = -1;
    ctx_with(t, &cfg);
    dt = timed_resolve(t, "hostonly.test", host, sizeof host, &st);
    assert_int_equal(st, 0);
    assert_true(dt > 0.4);
}

/* ---- no servers ---------------------------------------------------------- */

static void no_servers_case(struct t *t, const char *conf)
{
    anysock_config cfg;
    char host[64];
    int st;
    double dt;

    cfg_base(t, &cfg);
    cfg.dns_servers = NULL;
    cfg.resolv_conf = conf;
    cfg.dns_timeout = 2;
    cfg.dns_tries = 3;
    ctx_with(t, &cfg);
    dt = timed_resolve(t, "a300.test", host, sizeof host, &st);
    print_message("no servers (%s): %.2f ms\n", conf, dt * 1e3);
    assert_int_equal(st, ANYSOCK_ENOSERVERS);
    assert_true(dt < 0.5);
    assert_int_equal(ttldns_total(t->dns), 0);
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
}

static void test_no_servers_fails_at_once(void **state)
{
    struct t *t = *state;
    char missing[300];

    write_file(t->conf, "");
    no_servers_case(t, t->conf);
    write_file(t->conf, "# nothing\nsearch example.com\noptions ndots:2\n"
                        "nameserver\nnameserver bogus\n");
    no_servers_case(t, t->conf);
    snprintf(missing, sizeof missing, "%s.missing", t->conf);
    no_servers_case(t, missing);
    assert_string_equal(anysock_strerror(ANYSOCK_ENOSERVERS),
                        "no DNS servers configured");
}

static void connect_cb(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    struct rec *r = rec_note(data, status, 0);

    (void)host;
    (void)port;
    if (fd >= 0)
        close(fd);
    (void)r;
}

static void test_no_servers_hosts_file_and_connect(void **state)
{
    struct t *t = *state;
    anysock_config cfg;
    struct rec r;
    char host[64];

    write_file(t->conf, "");
    write_file(t->hosts, "127.0.0.77 hostonly.test\n");
    cfg_base(t, &cfg);
    cfg.dns_servers = NULL;
    cfg.resolv_conf = t->conf;
    ctx_with(t, &cfg);
    /* DNS first still: it fails at once, then the hosts file answers */
    assert_int_equal(resolve4(t, "hostonly.test", "80", host, sizeof host,
                              NULL), 0);
    assert_string_equal(host, "127.0.0.77");
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_inet_aton(t->ctx, "a300.test", rec_aton_cb, &r,
                                       NULL), 0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 1));
    assert_int_equal(r.status, ANYSOCK_ENOSERVERS);
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_tcp_connect(t->ctx, "a300.test", "80",
                                         connect_cb, NULL, &r, NULL), 0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 1));
    assert_false(r.early);
    assert_int_equal(r.status, ANYSOCK_ENOSERVERS);
    assert_int_equal(ttldns_total(t->dns), 0);
}

/* An explicit server list is never replaced by resolv.conf, nor is the
 * file even looked at. */
static void test_explicit_servers_ignore_resolv_conf(void **state)
{
    struct t *t = *state;
    anysock_config cfg;
    anysock__dns_debug d;

    write_file(t->conf, "");
    cfg_base(t, &cfg);
    cfg.resolv_conf = t->conf;
    ctx_with(t, &cfg);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    write_file(t->conf, "nameserver 127.0.0.1\n");
    wait_for(t->loop, 1.1);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a300.test"), 2);
    anysock__dns_debug_get(t->ctx, &d);
    assert_int_equal(d.conf_checks, 0);
    assert_int_equal(d.conf_reloads, 0);
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    /* ANYSOCK_DNS_SERVERS the same */
    setenv("ANYSOCK_DNS_SERVERS", t->server, 1);
    cfg.dns_servers = NULL;
    ctx_with(t, &cfg);
    unsetenv("ANYSOCK_DNS_SERVERS");
    write_file(t->conf, "");
    wait_for(t->loop, 1.1);
    assert_int_equal(resolve4(t, "a300.test", "80", NULL, 0, NULL), 0);
    assert_int_equal(Q("a300.test"), 3);
    anysock__dns_debug_get(t->ctx, &d);
    assert_int_equal(d.conf_checks, 0);
}

/* Every allocation of a context with a cache, then of cached lookups
 * (miss, put, hit), failing in turn: -ENOMEM or a normal result, never a
 * crash, and nothing leaked (the valgrind run). */
static void test_cache_allocation_failures(void **state)
{
    struct t *t = *state;
    anysock_config cfg;
    long n;

    cfg_base(t, &cfg);
    cfg.dns_cache = 4;
    for (n = 0;; n++) {
        int rc;

        count = 0;
        fail_at = n;
        rc = anysock_ctx_new(t->loop, &cfg, &t->ctx);
        fail_at = -1;
        if (rc == 0)
            break;
        assert_int_equal(rc, -ENOMEM);
        assert_null(t->ctx);
    }
    assert_true(n > 2);   /* the cache's own allocations were among them */
    for (n = 0; n < 64; n++) {
        struct rec r;
        int rc;

        count = 0;
        fail_at = n;
        memset(&r, 0, sizeof r);
        rc = anysock_resolve_sockaddr(t->ctx, n % 2 ? "a300.test"
                                                    : "nx60m60.test",
                                      "80", NULL, 4, 0, rec_resolve_cb, &r,
                                      NULL);
        if (rc == 0) {
            r.returned = true;
            assert_true(run_until(t->loop, &r.calls, 1, 10));
            assert_false(r.early);
            /* a socket watcher that cannot be had times the attempt
             * out (the engine's choice over a crash) */
            assert_true(r.status == 0 || r.status == -ENXIO ||
                        r.status == -ENOMEM ||
                        r.status == ANYSOCK_EDNSTIMEOUT);
        } else {
            assert_int_equal(rc, -ENOMEM);
        }
        fail_at = -1;
    }
    assert_true(loop_drains(t->loop, 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_is_off_by_default,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_answers_within_ttl_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_asks_again_after_ttl,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_never_keeps_ttl_zero,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_ttl_is_the_chains_least,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_negative_per_rfc2308,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_caps_positive_and_negative,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_evicts_least_recently_used,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_hit_calls_back_after_return,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_keeps_srv_answers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_from_environment,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hosts_first_answers_without_dns,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hosts_first_off_waits_for_dns,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hosts_first_from_environment,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_servers_fails_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_no_servers_hosts_file_and_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_explicit_servers_ignore_resolv_conf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_allocation_failures,
                                        setup, teardown),
    };

    slow = getenv("ANYSOCK_TEST_SLOW") != NULL;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
