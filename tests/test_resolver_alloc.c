/* The Nth allocation failing, for every N a lookup makes: the start call
 * fails cleanly (no callback) or the callback runs exactly once; nothing
 * leaks (ASan, valgrind). anysock__malloc/calloc are wrapped at link time
 * (-Wl,--wrap), which works because the tests link the static library. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "harness/rtest.h"
#include "harness/failalloc.h"

static void arm(long n)
{
    count = 0;
    fail_at = n;
}

/* One lookup with allocation `n` failing; returns true once n is past
 * every allocation the lookup makes. */
static bool one(struct ev_loop *loop, const char *servers, const char *node,
                const char *svc, long n)
{
    anysock_config cfg;
    anysock_ctx *ctx = NULL;
    struct rec r;
    long made;
    int rc;

    memset(&r, 0, sizeof r);
    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    cfg.hosts_file = ANYSOCK_SOURCE_DIR "/tests/harness/hosts.alloc";
    /* a failed watcher allocation leaves c-ares to its timeout */
    cfg.dns_timeout = 0.2;
    cfg.dns_tries = 1;
    arm(n);
    rc = anysock_ctx_new(loop, &cfg, &ctx);
    if (rc != 0) {
        assert_int_equal(rc, -ENOMEM);
        fail_at = -1;
        return false;
    }
    rc = anysock_resolve_sockaddr(ctx, node, svc, NULL, 0, 0,
                                  rec_resolve_cb, &r, NULL);
    r.returned = true;
    if (rc != 0) {
        assert_int_equal(rc, -ENOMEM);
    } else {
        assert_true(run_until(loop, &r.calls, 1, 10));
        assert_int_equal(r.calls, 1);
        assert_false(r.early);
    }
    made = count;
    fail_at = -1;
    anysock_ctx_free(ctx);
    assert_true(loop_drains(loop, 5));
    return made <= n;   /* fewer allocations than n: none failed */
}

static void sweep(const char *node, const char *svc, bool dns)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char servers[64];
    int port = dnsmasq_port();
    long n;

    if (dns && port == 0) {
        ev_loop_destroy(loop);
        print_message("dnsmasq fixture not running\n");
        skip();
    }
    snprintf(servers, sizeof servers, "127.0.0.1:%d", dns ? port : 9);
    for (n = 0; n < 1000; n++)
        if (one(loop, servers, node, svc, n))
            break;
    print_message("%s %s: %ld allocations\n", node, svc, n);
    assert_true(n > 1 && n < 1000);
    ev_loop_destroy(loop);
}

static void test_every_allocation_failing_numeric(void **state)
{
    (void)state;
    sweep("::1", "80", false);
}

static void test_every_allocation_failing_srv_lookup(void **state)
{
    (void)state;
    sweep("srvhost.anysock.test", "http", true);
}

static void test_every_allocation_failing_hosts_fallback(void **state)
{
    (void)state;
    sweep("nosuch.anysock.test", "80", true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_failing_numeric),
        cmocka_unit_test(test_every_allocation_failing_srv_lookup),
        cmocka_unit_test(test_every_allocation_failing_hosts_fallback),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
