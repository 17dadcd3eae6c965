/* Happy Eyeballs v2 end to end: tcp_connect_ex against a DNS server that
 * delays or drops A and AAAA per name (tests/harness/hedns.c), real
 * listeners on 127.0.0.1 and ::1, and a black-holed 127.0.0.2: dropped by
 * nftables when run by tests/harness/netns.sh (ANYSOCK_NETNS_BLACKHOLE
 * set), else a listener whose accept queue is full (the kernel drops the
 * SYNs as well). Every case measures the time to connect; bounds are wide
 * (shared machines). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "internal.h"
#include "harness/nettest.h"
#include "harness/hedns.h"

static hedns *dns;
static char dns_server[32];

typedef struct fx {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    anysock_guard *guard;
    int fds_before;
    int l4, l6, hold[3];
    unsigned port;
    char portstr[16];
    /* results */
    int calls, status, fd, traces;
    char host[ANYSOCK_ADDRESS_STRLEN];
    double t0, took;
    bool done;
    anysock_attempt report[16];
    size_t nreport;
} fx;

static int group_setup(void **state)
{
    (void)state;
    return hedns_start(&dns, dns_server, sizeof dns_server) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    hedns_stop(dns);
    return 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    f->fds_before = nt_count_fds();
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->fd = -1;
    f->l4 = f->l6 = -1;
    f->hold[0] = f->hold[1] = f->hold[2] = -1;
    *state = f;
    if (!nt_have_ipv6()) {
        print_message("skipped: no ::1 here\n");
        return 0;
    }
    /* one port for all: ::1 first, then the same port on 127.0.0.1 and
     * (black-holed) 127.0.0.2 */
    f->l6 = nt_listen(AF_INET6, "::1", &f->port, 16);
    assert_true(f->l6 >= 0);
    f->l4 = nt_listen(AF_INET, "127.0.0.1", &f->port, 16);
    assert_true(f->l4 >= 0);
    if (getenv("ANYSOCK_NETNS_BLACKHOLE") == NULL)
        assert_int_equal(nt_blackhole("127.0.0.2", &f->port, f->hold), 0);
    snprintf(f->portstr, sizeof f->portstr, "%u", f->port);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    anysock_guard_cancel(&f->guard);
    if (f->fd >= 0)
        close(f->fd);
    assert_true(nt_loop_idle(f->loop));
    anysock_ctx_free(f->ctx);
    ev_loop_destroy(f->loop);
    if (f->l4 >= 0)
        close(f->l4);
    if (f->l6 >= 0)
        close(f->l6);
    nt_close3(f->hold);
    assert_int_equal(nt_count_fds(), f->fds_before);
    free(f);
    return 0;
}

static void need_ipv6(fx *f)
{
    if (f->l6 < 0)
        skip();
}

static void make_ctx(fx *f, const char *protocols)
{
    anysock_config cfg;

    anysock_guard_cancel(&f->guard);   /* before the ctx it belongs to */
    anysock_ctx_free(f->ctx);
    f->ctx = NULL;
    anysock_config_init(&cfg);
    cfg.dns_servers = dns_server;
    cfg.hosts_file = "/dev/null";
    cfg.protocols = protocols;
    assert_int_equal(anysock_ctx_new(f->loop, &cfg, &f->ctx), 0);
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    fx *f = data;

    (void)port;
    f->calls++;
    f->status = status;
    f->took = nt_now() - f->t0;
    f->host[0] = '\0';
    if (host != NULL)
        snprintf(f->host, sizeof f->host, "%s", host);
    if (fd >= 0) {
        if (f->fd >= 0)
            close(f->fd);
        f->fd = fd;
    }
    f->nreport = anysock_connect_report(f->guard, f->report, 16);
    f->done = true;
}

static void on_trace(void *data, const anysock_trace *ev)
{
    fx *f = data;

    assert_true(ev->event >= ANYSOCK_TRACE_ANSWER &&
                ev->event <= ANYSOCK_TRACE_TRANSPORT);
    f->traces++;
}

/* Connect to `name` with the given options; waits for the callback. */
static void run(fx *f, const char *name, anysock_connect_opts *o)
{
    anysock_connect_opts def;

    if (o == NULL) {
        anysock_connect_opts_init(&def);
        o = &def;
    }
    o->trace = on_trace;
    o->trace_data = f;
    anysock_guard_cancel(&f->guard);
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    f->done = false;
    f->calls = 0;
    f->t0 = nt_now();
    assert_int_equal(anysock_tcp_connect_ex(f->ctx, name, f->portstr, o,
                                            on_connect, NULL, f, &f->guard),
                     0);
    assert_true(nt_run_until(f->loop, &f->done, 20.));
    assert_int_equal(f->calls, 1);
    print_message("  %-22s -> %-10s %s in %.3f s\n", name,
                  f->status == 0 ? f->host : "failed",
                  f->status == 0 ? "" : anysock_strerror(f->status),
                  f->took);
}

/* The preferred family answers at once, the other 3 s later or never:
 * connected well under a second, in both preference orders. */
static void test_preferred_at_once_other_late_or_never(void **state)
{
    fx *f = *state;

    int fds;

    need_ipv6(f);
    make_ctx(f, "ipv4,ipv6");
    fds = nt_count_fds();
    run(f, "h-0-3000.x.test", NULL);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_true(f->took < 0.5);
    /* the AAAA lookup was cancelled by the win: nothing lingers, not
     * even the DNS socket; only the connection is left */
    assert_true(nt_loop_idle(f->loop));
    assert_int_equal(nt_count_fds(), fds + 1);
    run(f, "h-0-x.x.test", NULL);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_true(f->took < 0.5);

    make_ctx(f, "ipv6,ipv4");
    run(f, "h-3000-0.x.test", NULL);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_true(f->took < 0.5);
    run(f, "h-x-0.x.test", NULL);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_true(f->took < 0.5);
    assert_true(f->traces >= 2);   /* an answer, a start, a win */
}

/* Only the non-preferred family answers: it is used after the
 * Resolution Delay (the default, and a wider one to see it). */
static void test_only_other_family_after_resolution_delay(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;

    need_ipv6(f);
    make_ctx(f, "ipv4,ipv6");
    run(f, "h-x-0.x.test", NULL);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_true(f->took >= ANYSOCK_RESOLUTION_DELAY_DEFAULT - 0.005);
    assert_true(f->took < 0.5);

    anysock_connect_opts_init(&o);
    o.resolution_delay = 0.3;
    run(f, "h-x-0.x.test", &o);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_true(f->took >= 0.295);
    assert_true(f->took < 0.8);
}

/* The preferred family answers a few ms after the other: it still wins
 * (inside the Resolution Delay), both ways round. */
static void test_preferred_few_ms_late_still_wins(void **state)
{
    fx *f = *state;

    need_ipv6(f);
    make_ctx(f, "ipv4,ipv6");
    run(f, "h-15-0.x.test", NULL);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_true(f->took < 0.5);
    make_ctx(f, "ipv6,ipv4");
    run(f, "h-0-15.x.test", NULL);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_true(f->took < 0.5);
}

/* An answer that arrives while a black-holed attempt hangs is tried at
 * once (the stagger, 0.25 s, has passed): connected at about 0.3 s, not
 * at 0.55 s. */
static void test_late_answer_tried_while_blackhole_hangs(void **state)
{
    fx *f = *state;

    need_ipv6(f);
    make_ctx(f, "ipv4,ipv6");
    run(f, "h-0-300.bh.test", NULL);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_true(f->took >= 0.29);
    assert_true(f->took < 0.48);
    /* the report: the black-holed attempt, cancelled by the win, then
     * the winner */
    assert_true(f->nreport >= 2);
    assert_int_equal(f->report[0].family, AF_INET);
    assert_int_equal(f->report[0].phase, ANYSOCK_PHASE_CANCEL);
    assert_int_equal(f->report[f->nreport - 1].family, AF_INET6);
    assert_int_equal(f->report[f->nreport - 1].phase, ANYSOCK_PHASE_WON);
}

/* The overall deadline ends a call whose every address is black-holed
 * within +-100 ms of the deadline; the report lists every attempt with
 * its error. */
static void test_deadline_ends_blackholed_call(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    size_t attempts = 0;

    need_ipv6(f);
    make_ctx(f, "ipv4,ipv6");
    anysock_connect_opts_init(&o);
    o.deadline = 1.0;
    run(f, "h-0-n.bh3.test", &o);
    assert_int_equal(f->status, -ETIMEDOUT);
    assert_true(f->took > 0.9 && f->took < 1.1);
    for (size_t i = 0; i < f->nreport; i++) {
        const anysock_attempt *a = &f->report[i];
        char host[ANYSOCK_ADDRESS_STRLEN] = "-";

        if (a->addr.family != 0)
            anysock_format_address(&a->addr, host, sizeof host);
        print_message("  report: family %d %s:%u status %s phase %d "
                      "started %.3f ran %.3f\n", a->family, host,
                      (unsigned)a->port, anysock_err_name(a->status),
                      a->phase, a->started, a->duration);
        if (a->family != AF_INET)
            continue;   /* the AAAA "no data" row */
        assert_string_equal(host, "127.0.0.2");
        assert_int_equal(a->port, f->port);
        assert_int_equal(a->status, -ETIMEDOUT);
        assert_int_equal(a->phase, ANYSOCK_PHASE_DEADLINE);
        assert_true(a->started + a->duration > 0.9);
        attempts++;
    }
    /* three addresses, started at 0, 0.25 and 0.5 s */
    assert_int_equal(attempts, 3);
}

/* Questions hedns received since `before`, once they stop coming (the
 * server thread counts them on receipt, maybe after our callback). */
static unsigned queries_since(unsigned before)
{
    unsigned n = hedns_queries(dns) - before;

    for (int i = 0; i < 20; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };

        nanosleep(&ts, NULL);
        if (hedns_queries(dns) - before == n && i >= 5)
            break;
        n = hedns_queries(dns) - before;
    }
    return n;
}

/* ANYSOCK_CONNECT_NOSRV: a named service ("x=PORT") asks SRV first by
 * default (7.17); with the flag only A and AAAA are asked. */
static void test_nosrv_skips_the_srv_query(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    char svc[16];
    unsigned before;

    need_ipv6(f);
    make_ctx(f, "ipv4,ipv6");
    snprintf(svc, sizeof svc, "x=%u", f->port);
    snprintf(f->portstr, sizeof f->portstr, "%s", svc);
    before = hedns_queries(dns);
    run(f, "h-0-0.x.test", NULL);
    assert_int_equal(f->status, 0);
    assert_int_equal(queries_since(before), 3);   /* SRV, A, AAAA */
    anysock_connect_opts_init(&o);
    o.flags = ANYSOCK_CONNECT_NOSRV;
    before = hedns_queries(dns);
    run(f, "h-0-0.x.test", &o);
    assert_int_equal(f->status, 0);
    assert_int_equal(queries_since(before), 2);   /* A, AAAA */
}

/* Issue 15: resolution failures reach connect_cb as DNS errors. */
static void test_dns_errors_are_passed_on(void **state)
{
    fx *f = *state;
    anysock_config cfg;

    make_ctx(f, "ipv4,ipv6");
    run(f, "h-f-f.x.test", NULL);
    assert_int_equal(f->status, ANYSOCK_ESERVFAIL);
    run(f, "nosuchname.test", NULL);
    assert_int_equal(f->status, -ENXIO);

    /* a mute server: ANYSOCK_EDNSTIMEOUT, not a connect timeout */
    anysock_guard_cancel(&f->guard);
    anysock_ctx_free(f->ctx);
    anysock_config_init(&cfg);
    cfg.dns_servers = dns_server;
    cfg.hosts_file = "/dev/null";
    cfg.dns_timeout = 0.2;
    cfg.dns_tries = 1;
    assert_int_equal(anysock_ctx_new(f->loop, &cfg, &f->ctx), 0);
    run(f, "h-x-x.x.test", NULL);
    assert_int_equal(f->status, ANYSOCK_EDNSTIMEOUT);

    /* nobody on the DNS port: ANYSOCK_EDNSCONN, not "connection
     * refused" as if the target had refused */
    anysock_guard_cancel(&f->guard);
    anysock_ctx_free(f->ctx);
    cfg.dns_servers = "127.0.0.1:1";
    assert_int_equal(anysock_ctx_new(f->loop, &cfg, &f->ctx), 0);
    run(f, "h-0-0.x.test", NULL);
    assert_int_equal(f->status, ANYSOCK_EDNSCONN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_preferred_at_once_other_late_or_never),
        T(test_only_other_family_after_resolution_delay),
        T(test_preferred_few_ms_late_still_wins),
        T(test_late_answer_tried_while_blackhole_hangs),
        T(test_deadline_ends_blackholed_call),
        T(test_nosrv_skips_the_srv_query),
        T(test_dns_errors_are_passed_on),
#undef T
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
