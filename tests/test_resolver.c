/* resolve_sockaddr and inet_aton against a real dnsmasq (the ctest
 * fixture, zone anysock.test: tests/harness/dnsmasq.sh) and against the
 * fault-injecting responder (tests/harness/fakedns.c). Every test checks
 * the callback count, that no callback ran before the start call returned,
 * that the loop drains by itself and that no fd leaked. */
#define _GNU_SOURCE /* accept4, pipe2, utimensat, setenv */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "harness/fakedns.h"
#include "harness/rtest.h"

#define Z ".anysock.test"

#include "harness/rfixture.h"

/* A ctx whose DNS server cannot answer: proves no DNS was needed. */
static void ctx_nodns(struct t *t, const char *protocols)
{
    /* discard port: nothing answers */
    ctx_on(t, "127.0.0.1:9", protocols, 0.05, 1);
}


/* ---- no DNS needed ------------------------------------------------------- */

static void test_numeric_ipv4_needs_no_dns(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("127.1", "80", NULL, 0, 0),
                        "inet 127.0.0.1 80");
    assert_int_equal(r.t[0].socktype, SOCK_STREAM);
    assert_int_equal(r.t[0].protocol, 6);
}

static void test_numeric_ipv6_needs_no_dns(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("::1", "443", NULL, 0, 0), "inet6 ::1 443");
}

static void test_mapped_ipv6_is_ipv4(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("::ffff:127.0.0.2", "1", NULL, 0, 0),
                        "inet 127.0.0.2 1");
}

static void test_localhost_is_v4_then_v6_without_dns_or_hosts(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    write_hosts(t, "127.0.0.99 localhost\n::1 localhost\n");
    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("localhost", "22", NULL, 0, 0),
                        "inet 127.0.0.1 22, inet6 ::1 22");
}

static void test_localhost_ipv6_first_with_ipv6_preference(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, "ipv6,ipv4");
    assert_string_equal(RESOLVE("LocalHost", "22", NULL, 0, 0),
                        "inet6 ::1 22, inet 127.0.0.1 22");
}

static void test_unix_absolute_path_is_one_target(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("unix/", "/tmp/sock", "udp", 0, 0),
                        "unix /tmp/sock");
    assert_int_equal(r.t[0].socktype, SOCK_STREAM);   /* even for udp */
    assert_int_equal(r.t[0].protocol, 0);
}

static void test_unix_relative_path_gives_no_target(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("unix/", "sock", NULL, 0, 0), "");
    assert_int_equal(r.status, -ENXIO);
}

static void test_unix_with_family_filter_gives_no_target(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("unix/", "/tmp/sock", NULL, 4, 0), "");
    assert_int_equal(r.status, -ENXIO);
}

static void test_unknown_service_fails_at_once(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    int fds;

    ctx_nodns(t, NULL);
    fds = count_fds();
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "127.0.0.1", "nosuch",
                                              NULL, 0, 0, rec_resolve_cb, &r,
                                              NULL), ANYSOCK_ESERVICE);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "127.0.0.1", "70000",
                                              NULL, 0, 0, rec_resolve_cb, &r,
                                              NULL), ANYSOCK_ESERVICE);
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(r.calls, 0);
    assert_null(t->ctx->ops);
    assert_int_equal(count_fds(), fds);
}

static void test_unknown_protocol_fails_at_once(void **state)
{
    struct t *t = *state;
    struct rec r = {0};

    ctx_nodns(t, NULL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "127.0.0.1", "80",
                                              "nosuchproto", 0, 0,
                                              rec_resolve_cb, &r, NULL),
                     ANYSOCK_EPROTOCOL);
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(r.calls, 0);
}

static void test_bad_arguments_fail_at_once(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    anysock_guard *g = NULL;

    ctx_nodns(t, NULL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "::1", "80", NULL, 5,
                                              0, rec_resolve_cb, &r, &g),
                     -EINVAL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "", "80", NULL, 0, 0,
                                              rec_resolve_cb, &r, &g),
                     -EINVAL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "::1", "80", NULL, 0,
                                              99, rec_resolve_cb, &r, &g),
                     -EINVAL);
    assert_null(g);
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(r.calls, 0);
}

static void test_service_name_port_form(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("127.0.0.1", "whatever=8080", NULL, 0, 0),
                        "inet 127.0.0.1 8080");
}

static void test_service_name_from_services_database(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("127.0.0.1", "http", NULL, 0, 0),
                        "inet 127.0.0.1 80");
}

static void test_udp_gives_dgram_and_protocol_17(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("127.0.0.1", "domain", "udp", 0, 0),
                        "inet 127.0.0.1 53");
    assert_int_equal(r.t[0].socktype, SOCK_DGRAM);
    assert_int_equal(r.t[0].protocol, 17);
}

static void test_explicit_socktype_is_kept(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    RESOLVE("127.0.0.1", "9", "sctp", 0, SOCK_SEQPACKET);
    assert_int_equal(r.t[0].socktype, SOCK_SEQPACKET);
    assert_int_equal(r.t[0].protocol, 132);
}

static void test_family_filter_drops_other_family(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, NULL);
    assert_string_equal(RESOLVE("localhost", "1", NULL, 4, 0),
                        "inet 127.0.0.1 1");
    assert_string_equal(RESOLVE("localhost", "1", NULL, 6, 0),
                        "inet6 ::1 1");
    assert_string_equal(RESOLVE("::1", "1", NULL, 4, 0), "");
    assert_int_equal(r.status, -ENXIO);
}

static void test_family6_with_ipv4_only_calls_back_once(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_nodns(t, "ipv4");
    assert_string_equal(RESOLVE("::1", "1", NULL, 6, 0), "");
    assert_int_equal(r.status, -ENXIO);
    /* and family 0 is then IPv4 only */
    assert_string_equal(RESOLVE("localhost", "1", NULL, 0, 0),
                        "inet 127.0.0.1 1");
}

static void test_guardless_immediate_result_frees_itself(void **state)
{
    struct t *t = *state;
    struct rec r = {0};

    ctx_nodns(t, NULL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "::1", "1", NULL, 0, 0,
                                              rec_resolve_cb, &r, NULL), 0);
    r.returned = true;
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(r.calls, 1);
    assert_null(t->ctx->ops);   /* ASan/valgrind check the free itself */
}

/* ---- DNS: dnsmasq -------------------------------------------------------- */

static void test_a_only_name(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("a" Z, "80", NULL, 0, 0),
                        "inet 127.0.0.11 80");
}

static void test_aaaa_only_name(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("aaaa" Z, "80", NULL, 0, 0),
                        "inet6 ::1 80");
}

static void test_both_families_ipv4_first_by_default(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("Both" Z, "80", NULL, 0, 0),
                        "inet 127.0.0.12 80, inet6 ::1 80");
}

static void test_both_families_ipv6_first_by_preference(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, "ipv6,ipv4");
    assert_string_equal(RESOLVE("both" Z, "80", NULL, 0, 0),
                        "inet6 ::1 80, inet 127.0.0.12 80");
}

static void test_ipv6_only_preference_skips_a(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, "ipv6");
    assert_string_equal(RESOLVE("both" Z, "80", NULL, 0, 0),
                        "inet6 ::1 80");
}

static void test_family4_asks_only_a(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("both" Z, "80", NULL, 4, 0),
                        "inet 127.0.0.12 80");
    assert_string_equal(RESOLVE("both" Z, "80", NULL, 6, 0),
                        "inet6 ::1 80");
}

static void test_nxdomain_is_enxio(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("nosuch" Z, "80", NULL, 0, 0), "");
    assert_int_equal(r.status, -ENXIO);
}

static void test_srv_priority_order_then_preference(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    RESOLVE("srvhost" Z, "http", NULL, 0, 0);
    /* priority 5 (t4), 10 (t1), 20 (t2/t3 by weight); every IPv4 target
     * before any IPv6 one */
    assert_int_equal(r.n, 5);
    assert_string_equal(strtok(buf, ","), "inet 127.0.0.24 8004");
    assert_string_equal(strtok(NULL, ","), " inet 127.0.0.21 8001");
    strtok(NULL, ",");
    strtok(NULL, ",");
    assert_string_equal(strtok(NULL, ","), " inet6 ::1 8004");
    {
        char a[64], b[64];

        target_str(&r.t[2], a, sizeof a);
        target_str(&r.t[3], b, sizeof b);
        assert_true((strcmp(a, "inet 127.0.0.22 8002") == 0 &&
                     strcmp(b, "inet 127.0.0.23 8003") == 0) ||
                    (strcmp(a, "inet 127.0.0.23 8003") == 0 &&
                     strcmp(b, "inet 127.0.0.22 8002") == 0));
    }
}

static void test_srv_ipv6_preference_before_srv_order(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, "ipv6,ipv4");
    RESOLVE("srvhost" Z, "http", NULL, 0, 0);
    assert_int_equal(r.n, 5);
    assert_string_equal(strtok(buf, ","), "inet6 ::1 8004");
    assert_string_equal(strtok(NULL, ","), " inet 127.0.0.24 8004");
}

static void test_srv_for_udp_uses_udp_records(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("srvhost" Z, "sip", "udp", 0, 0),
                        "inet 127.0.0.21 5061");
    assert_int_equal(r.t[0].socktype, SOCK_DGRAM);
}

static void test_srv_dot_target_means_no_targets(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    /* dot.anysock.test has an A record too: it must not be used */
    assert_string_equal(RESOLVE("dot" Z, "http", NULL, 0, 0), "");
    assert_int_equal(r.status, -ENXIO);
}

static void test_no_srv_records_falls_back_to_a(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("a" Z, "http", NULL, 0, 0),
                        "inet 127.0.0.11 80");
}

static void test_numeric_service_skips_srv(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("srvhost" Z, "80", NULL, 0, 0),
                        "inet 127.0.0.40 80");
}

static void test_name_port_with_known_name_uses_srv(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    RESOLVE("srvhost" Z, "http=81", NULL, 0, 0);
    assert_int_equal(r.n, 5);
    assert_string_equal(strtok(buf, ","), "inet 127.0.0.24 8004");
}

static void test_name_port_with_unknown_name_uses_srv(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    /* foo is in no services database, but _foo._tcp.srvhost has a record:
     * 7.17 asks SRV for the name of name=port whatever it is */
    assert_string_equal(RESOLVE("srvhost" Z, "foo=5", NULL, 0, 0),
                        "inet 127.0.0.22 7001");
}

static void test_name_port_without_srv_record_uses_port(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("srvhost" Z, "bar=5", NULL, 0, 0),
                        "inet 127.0.0.40 5");
}

static void test_srv_weights_90_10(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];
    int first90 = 0, runs = 300;

    ctx_dns(t, NULL);
    for (int i = 0; i < runs; i++) {
        RESOLVE("w" Z, "http", NULL, 0, 0);
        assert_int_equal(r.n, 2);
        if (strncmp(buf, "inet 127.0.0.31 9001", 20) == 0)
            first90++;
    }
    /* 7.17 picks the weight-90 record first with p = 90/101 ~ 0.89:
     * mean 267, sd 5.4; bounds are 6+ sd wide */
    print_message("weight 90 first in %d of %d\n", first90, runs);
    assert_in_range(first90, 235, 295);
}




static void test_idn_name_is_converted(void **state)
{
#ifdef ANYSOCK_HAVE_IDN2
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("b\xc3\xbc" "cher" Z, "1", NULL, 0, 0),
                        "inet 127.0.0.42 1");
#else
    (void)state;
    print_message("built without libidn2\n");
    skip();
#endif
}

static void run_aton(struct t *t, const char *name, struct rec *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(anysock_inet_aton(t->ctx, name, rec_aton_cb, r, NULL),
                     0);
    r->returned = true;
    assert_true(run_until(t->loop, &r->calls, 1, 10));
    assert_false(r->early);
    assert_true(loop_drains(t->loop, 10));
    assert_int_equal(r->calls, 1);
}

static void test_inet_aton_numeric_localhost_and_dns(void **state)
{
    struct t *t = *state;
    struct rec r;

    ctx_dns(t, NULL);
    run_aton(t, "127.0.0.5", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.a[0].family, AF_INET);
    assert_int_equal(r.a[0].bytes[3], 5);
    run_aton(t, "localhost", &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.a[0].family, AF_INET);
    assert_int_equal(r.a[1].family, AF_INET6);
    run_aton(t, "both" Z, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.a[0].family, AF_INET);
    assert_int_equal(r.a[0].bytes[3], 12);
    assert_int_equal(r.a[1].family, AF_INET6);
    run_aton(t, "nosuch" Z, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.status, -ENXIO);
}

struct many {
    int done, ok;
};

static void many_cb(void *data, int status, const anysock_target *tg,
                    size_t n)
{
    struct many *m = data;

    (void)tg;
    m->done++;
    if (status == 0 && n == 1)
        m->ok++;
}

static void test_2000_concurrent_resolves_lose_none(void **state)
{
    struct t *t = *state;
    struct many m = {0, 0};
    char name[64];

    ctx_dns(t, NULL);
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "n%d.many" Z, i);
        assert_int_equal(anysock_resolve_sockaddr(t->ctx, name, "80", NULL,
                                                  4, 0, many_cb, &m, NULL),
                         0);
    }
    assert_int_equal(m.done, 0);
    assert_true(run_until(t->loop, &m.done, 2000, 60));
    assert_int_equal(m.ok, 2000);
    assert_true(loop_drains(t->loop, 10));
}

/* ---- cancellation -------------------------------------------------------- */

static void test_cancel_right_after_start(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    anysock_guard *g;

    ctx_dns(t, NULL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "srvhost" Z, "http",
                                              NULL, 0, 0, rec_resolve_cb, &r,
                                              &g), 0);
    anysock_guard_cancel(&g);
    assert_null(g);
    anysock_guard_cancel(&g);   /* twice: a no-op */
    assert_true(loop_drains(t->loop, 10));
    assert_int_equal(r.calls, 0);
    assert_null(t->ctx->ops);
}

static void test_cancel_numeric_before_delivery(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    anysock_guard *g;

    ctx_nodns(t, NULL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "::1", "1", NULL, 0, 0,
                                              rec_resolve_cb, &r, &g), 0);
    anysock_guard_cancel(&g);
    assert_true(loop_drains(t->loop, 5));
    assert_int_equal(r.calls, 0);
}

static void test_cancel_at_every_stage(void **state)
{
    struct t *t = *state;

    ctx_dns(t, NULL);
    /* cancel after 0, 1, 2, ... loop iterations: before the SRV answer,
     * between SRV and A/AAAA, between A and AAAA, after delivery */
    for (int stage = 0; stage < 12; stage++) {
        struct rec r = {0};
        anysock_guard *g;

        assert_int_equal(anysock_resolve_sockaddr(t->ctx, "srvhost" Z,
                                                  "http", NULL, 0, 0,
                                                  rec_resolve_cb, &r, &g),
                         0);
        r.returned = true;
        for (int i = 0; i < stage; i++)
            ev_run(t->loop, EVRUN_ONCE);
        anysock_guard_cancel(&g);
        assert_true(loop_drains(t->loop, 10));
        assert_true(r.calls <= 1);
        assert_false(r.early);
        assert_null(t->ctx->ops);
    }
}

struct pair {
    struct rec a, b;
    anysock_guard *ga, *gb;
    anysock_ctx **ctxp;
    int mode;   /* 0: cancel b, 1: cancel own, 2: free ctx */
};

static void pair_a_cb(void *data, int status, const anysock_target *tg,
                      size_t n)
{
    struct pair *p = data;

    rec_resolve_cb(&p->a, status, tg, n);
    if (p->mode == 0)
        anysock_guard_cancel(&p->gb);
    else if (p->mode == 1)
        anysock_guard_cancel(&p->ga);
    else {
        anysock_ctx_free(*p->ctxp);
        *p->ctxp = NULL;
    }
}

static void pair_b_cb(void *data, int status, const anysock_target *tg,
                      size_t n)
{
    struct pair *p = data;

    rec_resolve_cb(&p->b, status, tg, n);
}

static void run_pair(struct t *t, int mode)
{
    struct pair p;

    memset(&p, 0, sizeof p);
    p.mode = mode;
    p.ctxp = &t->ctx;
    ctx_dns(t, NULL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "::1", "1", NULL, 0, 0,
                                              pair_a_cb, &p, &p.ga), 0);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "both" Z, "1", NULL, 0,
                                              0, pair_b_cb, &p, &p.gb), 0);
    p.a.returned = p.b.returned = true;
    assert_true(loop_drains(t->loop, 10));
    assert_int_equal(p.a.calls, 1);
    assert_false(p.a.early || p.b.early);
    if (mode == 0) {
        assert_int_equal(p.b.calls, 0);
        assert_null(p.gb);
        anysock_guard_cancel(&p.ga);
    } else if (mode == 1) {
        assert_null(p.ga);
        assert_int_equal(p.b.calls, 1);   /* the other one went on */
        anysock_guard_cancel(&p.gb);
    } else {
        assert_int_equal(p.b.calls, 0);   /* guards died with the ctx */
        assert_null(t->ctx);
    }
}

static void test_cancel_other_lookup_inside_callback(void **state)
{
    run_pair(*state, 0);
}

static void test_cancel_own_guard_inside_callback(void **state)
{
    run_pair(*state, 1);
}

static void test_ctx_free_inside_callback(void **state)
{
    run_pair(*state, 2);
}

static void test_ctx_free_with_lookups_pending(void **state)
{
    struct t *t = *state;
    struct rec r[4];
    anysock_guard *g = NULL;

    memset(r, 0, sizeof r);
    ctx_dns(t, NULL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "::1", "1", NULL, 0, 0,
                                              rec_resolve_cb, &r[0], NULL),
                     0);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "srvhost" Z, "http",
                                              NULL, 0, 0, rec_resolve_cb,
                                              &r[1], &g), 0);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "both" Z, "1", NULL, 0,
                                              0, rec_resolve_cb, &r[2],
                                              NULL), 0);
    assert_int_equal(anysock_inet_aton(t->ctx, "both" Z, rec_aton_cb, &r[3],
                                       NULL), 0);
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    assert_true(loop_drains(t->loop, 5));
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].calls, 0);
}

/* ---- faults: the fake responder ------------------------------------------ */

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_mute_server_times_out_within_bound(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];
    double t0 = mono(), el;

    ctx_fake(t, 0.1, 2);   /* c-ares: 0.1 + 0.2 s; our deadline 0.4 s */
    assert_string_equal(RESOLVE("mute.example", "80", NULL, 4, 0), "");
    el = mono() - t0;
    print_message("mute server: %.3f s\n", el);
    assert_int_equal(r.status, ANYSOCK_EDNSTIMEOUT);
    assert_true(el >= 0.25 && el < 1.5);
    assert_true(fakedns_udp_queries(t->fake) >= 2);
}

static void test_mute_server_leaves_answer_to_hosts_file(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    write_hosts(t, "127.0.0.70 mute.example\n");
    ctx_fake(t, 0.1, 2);
    assert_string_equal(RESOLVE("mute.example", "80", NULL, 4, 0),
                        "inet 127.0.0.70 80");
    /* also when the SRV query is the one that timed out */
    assert_string_equal(RESOLVE("mute.example", "http", NULL, 4, 0),
                        "inet 127.0.0.70 80");
}

static int mute_socket(uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_lookup_deadline_ends_two_mute_servers(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024], servers[64];
    uint16_t p1, p2;
    int m1 = mute_socket(&p1), m2 = mute_socket(&p2);
    double t0, el;

    snprintf(servers, sizeof servers, "127.0.0.1:%u,127.0.0.1:%u", p1, p2);
    ctx_on(t, servers, NULL, 0.2, 2);
    /* c-ares alone: 0.2 + 0.2 + 0.4 + 0.4 s; the deadline: 0.8 s */
    t0 = mono();
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "x.example", "80",
                                              NULL, 0, 0, rec_resolve_cb, &r,
                                              NULL), 0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 5));
    el = mono() - t0;
    print_message("two mute servers: %.3f s\n", el);
    assert_int_equal(r.status, ANYSOCK_EDNSTIMEOUT);
    assert_true(el >= 0.75 && el < 1.5);
    anysock_ctx_free(t->ctx);   /* ends what c-ares still holds */
    t->ctx = NULL;
    assert_true(loop_drains(t->loop, 1));
    close(m1);
    close(m2);
    (void)buf;
}

static void test_deadline_in_srv_stage_leaves_answer_to_hosts(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024], servers[64];
    uint16_t p1, p2;
    int m1 = mute_socket(&p1), m2 = mute_socket(&p2);

    write_hosts(t, "127.0.0.71 x.example\n");
    snprintf(servers, sizeof servers, "127.0.0.1:%u,127.0.0.1:%u", p1, p2);
    ctx_on(t, servers, NULL, 0.1, 2);
    /* the SRV query outlives the 0.4 s deadline (c-ares: 0.6 s) */
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "x.example", "http",
                                              NULL, 0, 0, rec_resolve_cb, &r,
                                              NULL), 0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 5));
    assert_int_equal(r.status, 0);
    assert_string_equal(rec_str(&r, buf, sizeof buf), "inet 127.0.0.71 80");
    anysock_ctx_free(t->ctx);
    t->ctx = NULL;
    close(m1);
    close(m2);
}

static void test_default_timeouts_bound_a_lookup_by_20s(void **state)
{
    struct t *t = *state;

    ctx_nodns(t, NULL);
    anysock_ctx_free(t->ctx);
    assert_int_equal(anysock_ctx_new(t->loop, NULL, &t->ctx), 0);
    print_message("default deadline %.1f s\n", t->ctx->dns_deadline);
    assert_true(t->ctx->dns_deadline > 2 && t->ctx->dns_deadline <= 20);
}

static void test_second_server_used_when_first_is_mute(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];
    char servers[128];
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    int port = dnsmasq_port(), mute;

    if (port == 0) {
        print_message("dnsmasq fixture not running\n");
        skip();
    }
    /* a bound UDP socket nobody reads: a mute server */
    mute = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(mute, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(mute, (struct sockaddr *)&sa, &sl), 0);
    snprintf(servers, sizeof servers, "127.0.0.1:%u,127.0.0.1:%d",
             ntohs(sa.sin_port), port);
    ctx_on(t, servers, NULL, 0.2, 2);
    assert_string_equal(RESOLVE("a" Z, "80", NULL, 4, 0),
                        "inet 127.0.0.11 80");
    close(mute);
}

static void test_servfail_is_reported(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_fake(t, 0.5, 2);
    assert_string_equal(RESOLVE("servfail.example", "80", NULL, 4, 0), "");
    assert_int_equal(r.status, ANYSOCK_ESERVFAIL);
}

static void test_refused_is_reported(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_fake(t, 0.5, 2);
    assert_string_equal(RESOLVE("refused.example", "80", NULL, 4, 0), "");
    assert_int_equal(r.status, ANYSOCK_EREFUSED);
}

static void test_nxdomain_from_fake_is_enxio(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_fake(t, 0.5, 2);
    assert_string_equal(RESOLVE("nx.example", "80", NULL, 0, 0), "");
    assert_int_equal(r.status, -ENXIO);
}

static void test_truncated_udp_answer_retried_over_tcp(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_fake(t, 0.5, 2);
    assert_string_equal(RESOLVE("tc.example", "80", NULL, 4, 0),
                        "inet 127.0.0.61 80");
    assert_true(fakedns_tcp_queries(t->fake) >= 1);
}

static void test_malformed_reply_is_ebadresp(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    ctx_fake(t, 0.5, 2);
    assert_string_equal(RESOLVE("bad.example", "80", NULL, 4, 0), "");
    assert_int_equal(r.status, ANYSOCK_EBADRESP);
}

static void test_answer_after_cancel_is_ignored(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    anysock_guard *g;

    ctx_fake(t, 1, 1);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "slow.example", "80",
                                              NULL, 4, 0, rec_resolve_cb, &r,
                                              &g), 0);
    r.returned = true;
    /* run until the responder has the query (it answers 150 ms later) */
    for (int i = 0; i < 500 && fakedns_udp_queries(t->fake) == 0; i++)
        run_for(t->loop, 0.01);
    assert_int_equal(fakedns_udp_queries(t->fake), 1);
    assert_int_equal(fakedns_replies(t->fake), 0);
    anysock_guard_cancel(&g);
    /* the engine lets go of the query at once: the loop ends before the
     * late answer is even sent, and it reaches no socket of ours */
    assert_true(loop_drains(t->loop, 0.1));
    assert_int_equal(fakedns_replies(t->fake), 0);
    while (fakedns_replies(t->fake) == 0)
        usleep(10000);
    run_for(t->loop, 0.05);
    assert_int_equal(r.calls, 0);
}

/* ---- faults: server down, hosts file missing, unreadable, garbage ------- */

/* A UDP port on 127.0.0.1 with nothing bound to it (a moment ago). */
static uint16_t closed_port(void)
{
    uint16_t port;
    int fd = mute_socket(&port);

    close(fd);
    return port;
}

static void test_server_down_is_refused_within_bound(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024], servers[64];

    snprintf(servers, sizeof servers, "127.0.0.1:%u", closed_port());
    ctx_on(t, servers, NULL, 0.25, 2);
    assert_true(t->ctx->dns_deadline == 1.0);
    /* ICMP port unreachable makes the socket's recv fail: c-ares 1.18
     * drops that connection and retries at once, so a try ends within
     * microseconds and the query with its initial error, ECONNREFUSED
     * (ANYSOCK_EDNSCONN: the DNS server, not a target, refused).
     * But Linux rate-limits those ICMP messages (icmp_ratelimit: about
     * one a second per peer after a burst of six; other tests here send
     * to 127.0.0.1:9), and a try whose ICMP was dropped waits for its
     * timeout like a mute server's: then EDNSCONN or EDNSTIMEOUT, and
     * never later than the lookup deadline (1 s here). */
    for (int i = 0; i < 3; i++) {
        int fam = i == 1 ? 0 : 4;
        double t0 = mono(), el;

        assert_string_equal(RESOLVE("down.example", "80", NULL, fam, 0), "");
        el = mono() - t0;
        print_message("server down: family %d %s after %.4f s\n", fam,
                      anysock_err_name(r.status), el);
        assert_true(r.status == ANYSOCK_EDNSCONN ||
                    r.status == ANYSOCK_EDNSTIMEOUT);
        assert_true(el < 1.5);
        assert_string_not_equal(anysock_strerror(r.status), "unknown error");
    }
}





/* ---- input limits -------------------------------------------------------- */

static void name_of(char *out, size_t total, size_t label)
{
    /* "nx." then labels of `label` bytes up to `total` characters */
    size_t n = 3, l = 0;

    memcpy(out, "nx.", 3);
    while (n < total) {
        if (l == label && n + 1 < total) {
            out[n++] = '.';
            l = 0;
        } else {
            out[n++] = (char)('a' + l % 26);
            l++;
        }
    }
    out[n] = '\0';
}

static void connect_never_cb(void *data, int status, int fd,
                             const char *host, unsigned port)
{
    (void)status;
    (void)fd;
    (void)host;
    (void)port;
    ++*(int *)data;
}

static void test_overlong_names_rejected_before_any_query(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    char n[400], last[300], buf[1024];
    int calls = 0;
    anysock_guard *g = NULL;
    static const size_t bad[][2] = {
        {254, 63}, {300, 63}, {399, 50}, {70, 64}, {100, 80}};

    ctx_fake(t, 0.5, 2);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        name_of(n, bad[i][0], bad[i][1]);
        assert_int_equal(anysock_resolve_sockaddr(t->ctx, n, "80", NULL, 0,
                                                  0, rec_resolve_cb, &r, &g),
                         -EINVAL);
        assert_int_equal(anysock_resolve_sockaddr(t->ctx, n, "x=80", NULL,
                                                  0, 0, rec_resolve_cb, &r,
                                                  &g), -EINVAL);
        assert_int_equal(anysock_inet_aton(t->ctx, n, rec_aton_cb, &r, &g),
                         -EINVAL);
        assert_int_equal(anysock_tcp_connect(t->ctx, n, "80",
                                             connect_never_cb, NULL, &calls,
                                             &g), -EINVAL);
    }
    /* empty labels */
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "nx..example", "80",
                                              NULL, 0, 0, rec_resolve_cb, &r,
                                              &g), -EINVAL);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, ".", "80", NULL, 0, 0,
                                              rec_resolve_cb, &r, &g),
                     -EINVAL);
    assert_null(g);
    assert_true(loop_drains(t->loop, 2));
    assert_int_equal(r.calls, 0);
    assert_int_equal(calls, 0);
    assert_int_equal(fakedns_udp_queries(t->fake) +
                         fakedns_tcp_queries(t->fake), 0);
    /* the largest legal name goes out whole: 253 characters, labels of
     * 63, with and without the trailing dot */
    name_of(n, 253, 63);
    assert_string_equal(RESOLVE(n, "80", NULL, 4, 0), "");
    assert_int_equal(r.status, -ENXIO);
    fakedns_last_qname(t->fake, last, sizeof last);
    assert_int_equal(strlen(last), 254);
    assert_memory_equal(last, n, 253);
    strcat(n, ".");
    assert_string_equal(RESOLVE(n, "80", NULL, 4, 0), "");
    assert_int_equal(r.status, -ENXIO);
    assert_int_equal(fakedns_udp_queries(t->fake), 2);
}

static void test_nul_inside_name_or_service_ends_it(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024], last[300];
    static const char node[] = "nx.cut\0evil.example";
    static const char svc[] = "81\0" "99999";
    static const char ip[] = "127.0.0.1\0junk";

    ctx_fake(t, 0.5, 2);
    /* C strings: what follows a NUL is never seen, never sent */
    assert_string_equal(RESOLVE(node, "80", NULL, 4, 0), "");
    assert_int_equal(r.status, -ENXIO);
    fakedns_last_qname(t->fake, last, sizeof last);
    assert_string_equal(last, "nx.cut.");
    assert_string_equal(RESOLVE("127.0.0.1", svc, NULL, 0, 0),
                        "inet 127.0.0.1 81");
    /* the length-taking address layer does see it: not an address */
    {
        anysock_addr a;
        uint8_t b[16];

        assert_int_equal(anysock_parse_address(ip, sizeof ip - 1, &a),
                         -EINVAL);
        assert_int_equal(anysock_parse_ipv4(ip, 10, b), -EINVAL);
        assert_int_equal(anysock_parse_ipv6("::1\0", 4, b), -EINVAL);
    }
}

static void test_service_numbers_out_of_range_fail_at_once(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    static const char *bad[] = {
        "65536", "99999", "99999999999", "-1", "+80", " 80", "80 ", "0x50",
        "184467440737095516160", "x=65536", "x=99999999999",
        "x=-1", "=80", ""};

    ctx_fake(t, 0.5, 2);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(anysock_resolve_sockaddr(t->ctx, "nx.svc", bad[i],
                                                  NULL, 0, 0, rec_resolve_cb,
                                                  &r, NULL),
                         ANYSOCK_ESERVICE);
    assert_true(loop_drains(t->loop, 2));
    assert_int_equal(r.calls, 0);
    assert_int_equal(fakedns_udp_queries(t->fake), 0);
    {
        char buf[1024];

        assert_string_equal(RESOLVE("127.0.0.1", "65535", NULL, 0, 0),
                            "inet 127.0.0.1 65535");
    }
}

static void test_unix_path_longer_than_sun_path(void **state)
{
    struct t *t = *state;
    struct rec r = {0};
    char path[200], buf[1024];
    int calls = 0;
    anysock_guard *g = NULL;
    size_t max = sizeof ((struct sockaddr_un *)0)->sun_path - 1;

    ctx_nodns(t, NULL);
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[max + 1] = '\0';   /* one byte too many */
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "unix/", path, NULL, 0,
                                              0, rec_resolve_cb, &r, &g),
                     -ENAMETOOLONG);
    assert_int_equal(anysock_tcp_connect(t->ctx, "unix/", path,
                                         connect_never_cb, NULL, &calls, &g),
                     -ENAMETOOLONG);
    path[sizeof path - 1] = '\0';
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "unix/", path, NULL, 0,
                                              0, rec_resolve_cb, &r, &g),
                     -ENAMETOOLONG);
    assert_null(g);
    assert_true(loop_drains(t->loop, 2));
    assert_int_equal(r.calls + calls, 0);
    /* exactly sun_path less its NUL fits */
    path[max] = '\0';
    assert_int_equal(strlen(RESOLVE("unix/", path, NULL, 0, 0)),
                     strlen("unix ") + max);
}

/* ---- threads ------------------------------------------------------------- */

struct thr {
    int port, ok, done;
};

static void *thread_main(void *arg)
{
    struct thr *th = arg;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    anysock_ctx *ctx = NULL;
    anysock_config cfg;
    char servers[64], name[64];
    struct many m = {0, 0};

    snprintf(servers, sizeof servers, "127.0.0.1:%d", th->port);
    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    if (loop == NULL || anysock_ctx_new(loop, &cfg, &ctx) != 0)
        return NULL;
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "t%p-%d.many" Z, (void *)th, i);
        if (anysock_resolve_sockaddr(ctx, name, "80", NULL, 4, 0, many_cb,
                                     &m, NULL) != 0)
            break;
    }
    (void)run_until(loop, &m.done, 300, 30);
    th->ok = m.ok;
    th->done = m.done;
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    return NULL;
}

static void test_two_threads_two_loops(void **state)
{
    struct thr th[2] = {{0, 0, 0}, {0, 0, 0}};
    pthread_t tid[2];
    int port = dnsmasq_port();

    (void)state;
    if (port == 0) {
        print_message("dnsmasq fixture not running\n");
        skip();
    }
    for (int i = 0; i < 2; i++) {
        th[i].port = port;
        assert_int_equal(pthread_create(&tid[i], NULL, thread_main, &th[i]),
                         0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    assert_int_equal(th[0].ok, 300);
    assert_int_equal(th[1].ok, 300);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_numeric_ipv4_needs_no_dns),
        T(test_numeric_ipv6_needs_no_dns),
        T(test_mapped_ipv6_is_ipv4),
        T(test_localhost_is_v4_then_v6_without_dns_or_hosts),
        T(test_localhost_ipv6_first_with_ipv6_preference),
        T(test_unix_absolute_path_is_one_target),
        T(test_unix_relative_path_gives_no_target),
        T(test_unix_with_family_filter_gives_no_target),
        T(test_unknown_service_fails_at_once),
        T(test_unknown_protocol_fails_at_once),
        T(test_bad_arguments_fail_at_once),
        T(test_service_name_port_form),
        T(test_service_name_from_services_database),
        T(test_udp_gives_dgram_and_protocol_17),
        T(test_explicit_socktype_is_kept),
        T(test_family_filter_drops_other_family),
        T(test_family6_with_ipv4_only_calls_back_once),
        T(test_guardless_immediate_result_frees_itself),
        T(test_a_only_name),
        T(test_aaaa_only_name),
        T(test_both_families_ipv4_first_by_default),
        T(test_both_families_ipv6_first_by_preference),
        T(test_ipv6_only_preference_skips_a),
        T(test_family4_asks_only_a),
        T(test_nxdomain_is_enxio),
        T(test_srv_priority_order_then_preference),
        T(test_srv_ipv6_preference_before_srv_order),
        T(test_srv_for_udp_uses_udp_records),
        T(test_srv_dot_target_means_no_targets),
        T(test_no_srv_records_falls_back_to_a),
        T(test_numeric_service_skips_srv),
        T(test_name_port_with_known_name_uses_srv),
        T(test_name_port_with_unknown_name_uses_srv),
        T(test_name_port_without_srv_record_uses_port),
        T(test_srv_weights_90_10),
        T(test_idn_name_is_converted),
        T(test_inet_aton_numeric_localhost_and_dns),
        T(test_2000_concurrent_resolves_lose_none),
        T(test_cancel_right_after_start),
        T(test_cancel_numeric_before_delivery),
        T(test_cancel_at_every_stage),
        T(test_cancel_other_lookup_inside_callback),
        T(test_cancel_own_guard_inside_callback),
        T(test_ctx_free_inside_callback),
        T(test_ctx_free_with_lookups_pending),
        T(test_mute_server_times_out_within_bound),
        T(test_mute_server_leaves_answer_to_hosts_file),
        T(test_lookup_deadline_ends_two_mute_servers),
        T(test_deadline_in_srv_stage_leaves_answer_to_hosts),
        T(test_default_timeouts_bound_a_lookup_by_20s),
        T(test_second_server_used_when_first_is_mute),
        T(test_servfail_is_reported),
        T(test_refused_is_reported),
        T(test_nxdomain_from_fake_is_enxio),
        T(test_truncated_udp_answer_retried_over_tcp),
        T(test_malformed_reply_is_ebadresp),
        T(test_answer_after_cancel_is_ignored),
        T(test_server_down_is_refused_within_bound),
        T(test_overlong_names_rejected_before_any_query),
        T(test_nul_inside_name_or_service_ends_it),
        T(test_service_numbers_out_of_range_fail_at_once),
        T(test_unix_path_longer_than_sun_path),
        T(test_two_threads_two_loops),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
