/* tcp_connect against a hostile zone (tests/harness/fakezone.c: a 64 KiB
 * SRV reply whose 64 targets each answer with thousands of A records in
 * 127.1.0.0/16, where nothing listens): the attempt cap is 64 per family,
 * the report never has more than ANYSOCK_CONNECT_REPORT_MAX rows, and
 * answers dropped because the entry table is full are never reported as
 * "no such name" (-ENXIO). IPv4 only (family 4): the zone's AAAA records
 * are not loopback addresses and must not be tried. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "harness/fakezone.h"
#include "harness/rtest.h"

typedef struct big {
    anysock_guard *g;
    int calls, status;
    unsigned answers, enxio, starts;
    anysock_attempt rows[ANYSOCK_CONNECT_REPORT_MAX + 8];
    size_t nrows;
} big;

static void on_trace(void *data, const anysock_trace *ev)
{
    big *b = data;

    if (ev->event == ANYSOCK_TRACE_ANSWER) {
        b->answers++;
        if (ev->status == -ENXIO)
            b->enxio++;
        assert_int_equal(ev->family, AF_INET);
    } else if (ev->event == ANYSOCK_TRACE_ATTEMPT_START) {
        b->starts++;
    }
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    big *b = data;

    (void)host;
    (void)port;
    if (fd >= 0)
        close(fd);
    b->calls++;
    b->status = status;
    b->nrows = anysock_connect_report(b->g, b->rows,
                                      sizeof b->rows / sizeof b->rows[0]);
}

static void test_report_rows_are_capped(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    anysock_ctx *ctx = NULL;
    anysock_config cfg;
    anysock_connect_opts o;
    fakezone *zone;
    char server[64];
    big b;
    size_t attempts = 0, resolve = 0;
    int fds = count_fds();
    bool slow = getenv("ANYSOCK_TEST_SLOW") != NULL;

    (void)state;
    memset(&b, 0, sizeof b);
    assert_int_equal(fakezone_start(&zone, server, sizeof server), 0);
    anysock_config_init(&cfg);
    cfg.dns_servers = server;
    cfg.hosts_file = "/dev/null";
    cfg.dns_timeout = slow ? 10 : 5;
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), 0);
    anysock_connect_opts_init(&o);
    o.family = 4;
    o.trace = on_trace;
    o.trace_data = &b;
    /* "x=80": SRV _x._tcp.hz.fz first */
    assert_int_equal(anysock_tcp_connect_ex(ctx, "hz.fz", "x=80", &o,
                                            on_connect, NULL, &b, &b.g), 0);
    assert_true(run_until(loop, &b.calls, 1, slow ? 600 : 60));
    for (size_t i = 0; i < b.nrows && i < sizeof b.rows / sizeof b.rows[0];
         i++) {
        if (b.rows[i].addr.family == 0) {
            resolve++;
            assert_int_equal(b.rows[i].phase, ANYSOCK_PHASE_RESOLVE);
            /* 4 targets fill the table; the rest are dropped, not
             * "no such name" */
            assert_int_equal(b.rows[i].status, -ENOSPC);
        } else {
            attempts++;
            assert_int_equal(b.rows[i].addr.family, AF_INET);
        }
    }
    print_message("status %s, %u answers, %u starts, report %zu rows "
                  "(%zu attempts, %zu resolution)\n",
                  anysock_strerror(b.status), b.answers, b.starts, b.nrows,
                  attempts, resolve);
    assert_int_equal(b.calls, 1);
    assert_true(b.status < 0);
    assert_int_equal(b.enxio, 0);
    assert_int_equal(b.answers, ANYSOCK_RESOLVE_MAX_SRV);
    assert_int_equal(b.starts, ANYSOCK_CONNECT_MAX_ATTEMPTS);
    assert_int_equal(attempts, ANYSOCK_CONNECT_MAX_ATTEMPTS);
    assert_true(b.nrows <= ANYSOCK_CONNECT_REPORT_MAX);
    assert_int_equal(b.nrows, attempts + resolve);
    assert_int_equal(resolve, ANYSOCK_CONNECT_REPORT_MAX -
                                  2 * ANYSOCK_CONNECT_MAX_ATTEMPTS);
    anysock_guard_cancel(&b.g);
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    fakezone_stop(zone);
    /* no fd kept: every attempt's socket and the DNS sockets closed */
    assert_true(count_fds() <= fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_rows_are_capped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
