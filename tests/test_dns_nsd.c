/* The engine against NSD with its default response-rate limiting (200
 * answers a second per bucket, every second dropped one sent truncated):
 * 2,000 names under one wildcard (one bucket), each asked A and AAAA at
 * once, all answered with both (the engine issue's finding 8). tests/harness/nsd.sh is the fixture;
 * without it the test is skipped (exit 77) with the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ares.h>
#include <arpa/nameser.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "harness/rtest.h"

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int nsd_port(void)
{
    const char *dir = getenv("ANYSOCK_NSD_DIR");
    char path[512];
    FILE *f;
    int port = 0;

    snprintf(path, sizeof path, "%s/nsd.port",
             dir ? dir : ANYSOCK_BINARY_DIR "/nsd");
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%d", &port) != 1)
        port = 0;
    fclose(f);
    return port;
}

struct q {
    anysock__dnsq *h;
    int calls, status, naddr;
};

static unsigned long done;

static void cb(void *arg, int status, const unsigned char *abuf, int alen)
{
    struct q *q = arg;
    struct hostent *he = NULL;

    q->calls++;
    q->status = status;
    done++;
    if (status != ARES_SUCCESS)
        return;
    /* count what the answer carries: a truncated or empty one is a loss */
    if (ares_parse_a_reply(abuf, alen, &he, NULL, NULL) != ARES_SUCCESS &&
        ares_parse_aaaa_reply(abuf, alen, &he, NULL, NULL) != ARES_SUCCESS)
        return;
    for (char **a = he->h_addr_list; *a != NULL; a++)
        q->naddr++;
    ares_free_hostent(he);
}

static void test_rate_limited_server_loses_nothing(void **state)
{
    int port = nsd_port(), names = getenv("ANYSOCK_TEST_SLOW") ? 500 : 2000;
    int n = 2 * names, both = 0, failed = 0, base = count_fds();
    struct q *q = calloc((size_t)n, sizeof *q);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    anysock_ctx *ctx;
    anysock_config cfg;
    anysock__dns_debug d;
    char servers[64], name[64];
    double t0, el;

    (void)state;
    assert_non_null(q);
    assert_non_null(loop);
    snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    cfg.hosts_file = "/dev/null";
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), 0);   /* defaults */
    ev_now_update(loop);
    t0 = mono();
    for (int i = 0; i < names; i++) {
        snprintf(name, sizeof name, "n%d.w.rrl.test", i);
        assert_int_equal(anysock__dns_query(ctx, name, ns_t_a, cb, &q[2 * i],
                                            &q[2 * i].h), 0);
        assert_int_equal(anysock__dns_query(ctx, name, ns_t_aaaa, cb,
                                            &q[2 * i + 1], &q[2 * i + 1].h),
                         0);
    }
    while (done < (unsigned long)n && mono() - t0 < 250)
        ev_run(loop, EVRUN_ONCE);
    el = mono() - t0;
    for (int i = 0; i < names; i++) {
        both += q[2 * i].naddr == 1 && q[2 * i + 1].naddr == 1;
        failed += q[2 * i].status != 0;
        failed += q[2 * i + 1].status != 0;
    }
    anysock__dns_debug_get(ctx, &d);
    print_message("NSD, default rate limit: %d names, %d with both A and "
                  "AAAA, %d queries failed, %.1f s (%.0f answers/s), %"
                  PRIu64 " sends, %" PRIu64 " timeouts, %" PRIu64 " slips\n",
                  names, both, failed, el, n / el, d.sends, d.timeouts,
                  d.slips);
    assert_int_equal(done, (unsigned long)n);
    for (int i = 0; i < n; i++)
        assert_int_equal(q[i].calls, 1);
    assert_int_equal(failed, 0);
    assert_int_equal(both, names);
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    assert_int_equal(count_fds(), base);
    free(q);
}


/* The same through the public API: one anysock_resolve_sockaddr per name,
 * each must give its IPv4 and its IPv6 target. */
struct res {
    int calls, status, v4, v6;
};

static unsigned long rdone;

static void rcb(void *data, int status, const anysock_target *t, size_t n)
{
    struct res *r = data;

    r->calls++;
    r->status = status;
    for (size_t i = 0; i < n; i++) {
        r->v4 += t[i].family == AF_INET;
        r->v6 += t[i].family == AF_INET6;
    }
    rdone++;
}

static void test_rate_limited_resolve_sockaddr_both_families(void **state)
{
    int port = nsd_port(), n = getenv("ANYSOCK_TEST_SLOW") ? 500 : 2000;
    int both = 0, failed = 0, base = count_fds();
    struct res *r = calloc((size_t)n, sizeof *r);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    anysock_ctx *ctx;
    anysock_config cfg;
    char servers[64], name[64];
    double t0, el;

    (void)state;
    assert_non_null(r);
    assert_non_null(loop);
    snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    cfg.hosts_file = "/dev/null";
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), 0);
    ev_now_update(loop);
    t0 = mono();
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "r%d.w.rrl.test", i);
        assert_int_equal(anysock_resolve_sockaddr(ctx, name, "80", NULL, 0,
                                                  0, rcb, &r[i], NULL), 0);
    }
    while (rdone < (unsigned long)n && mono() - t0 < 250)
        ev_run(loop, EVRUN_ONCE);
    el = mono() - t0;
    for (int i = 0; i < n; i++) {
        both += r[i].status == 0 && r[i].v4 == 1 && r[i].v6 == 1;
        failed += r[i].status != 0;
    }
    print_message("NSD via resolve_sockaddr: %d names, %d with both "
                  "families, %d failed, %.1f s\n", n, both, failed, el);
    assert_int_equal(rdone, (unsigned long)n);
    for (int i = 0; i < n; i++)
        assert_int_equal(r[i].calls, 1);
    assert_int_equal(both, n);
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    assert_int_equal(count_fds(), base);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_limited_server_loses_nothing),
        cmocka_unit_test(test_rate_limited_resolve_sockaddr_both_families),
    };

    if (nsd_port() == 0) {
        fprintf(stderr, "SKIPPED: the NSD fixture is not running "
                "(tests/harness/nsd.sh; Debian package nsd)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
