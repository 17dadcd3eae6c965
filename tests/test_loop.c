/* The context: defaults, configuration and environment checks, nothing
 * active while idle, nothing leaked. No DNS traffic here. */
#define _GNU_SOURCE /* accept4, pipe2, utimensat, setenv */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>

#include "internal.h"
#include "harness/rtest.h"

static struct ev_loop *loop;

static int setup(void **state)
{
    (void)state;
    unsetenv("ANYSOCK_DNS_SERVERS");
    unsetenv("ANYSOCK_HOSTS");
    unsetenv("ANYSOCK_PROTOCOLS");
    loop = ev_loop_new(EVFLAG_AUTO);
    return loop ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("ANYSOCK_DNS_SERVERS");
    unsetenv("ANYSOCK_HOSTS");
    unsetenv("ANYSOCK_PROTOCOLS");
    ev_loop_destroy(loop);
    return 0;
}

/* ctx_new with env var `var` set to `val` (NULL: unset). */
static int with_env(const char *var, const char *val, anysock_ctx **ctx)
{
    anysock_config cfg;

    anysock_config_init(&cfg);
    cfg.dns_servers = strcmp(var, "ANYSOCK_DNS_SERVERS") ? "127.0.0.1:9"
                                                         : NULL;
    if (val)
        setenv(var, val, 1);
    else
        unsetenv(var);
    return anysock_ctx_new(loop, &cfg, ctx);
}

static void test_config_init_defaults(void **state)
{
    anysock_config cfg;

    (void)state;
    memset(&cfg, 0x55, sizeof cfg);
    anysock_config_init(&cfg);
    assert_null(cfg.dns_servers);
    assert_null(cfg.hosts_file);
    assert_null(cfg.protocols);
    assert_true(cfg.dns_timeout == 0);
    assert_int_equal(cfg.dns_tries, 0);
    assert_int_equal(cfg.dns_max_inflight, 0);
    assert_true(cfg.connect_delay == 0.25);
    assert_int_equal(cfg.server_flags, 0);
}

static void test_idle_ctx_keeps_nothing_active(void **state)
{
    anysock_ctx *ctx;
    int fds = count_fds();

    (void)state;
    assert_int_equal(anysock_ctx_new(loop, NULL, &ctx), 0);
    assert_ptr_equal(anysock_ctx_loop(ctx), loop);
    assert_true(loop_drains(loop, 2));
    anysock_ctx_free(ctx);
    anysock_ctx_free(NULL);
    assert_int_equal(count_fds(), fds);
}

static void test_protocols_order_sets_preference(void **state)
{
    static const struct {
        const char *in;
        int v4, v6;
    } rows[] = {
        {"ipv4,ipv6", 2, 1}, {"ipv6,ipv4", 1, 2}, {" ipv6 , ipv4 ", 1, 2},
        {"ipv4", 1, 0},      {"ipv6", 0, 1},      {"", 2, 1},
    };

    (void)state;
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(rows); i++) {
        anysock_ctx *ctx = NULL;

        assert_int_equal(with_env("ANYSOCK_PROTOCOLS", rows[i].in, &ctx), 0);
        print_message("%s\n", rows[i].in);
        assert_int_equal(ctx->pref_ipv4, rows[i].v4);
        assert_int_equal(ctx->pref_ipv6, rows[i].v6);
        anysock_ctx_free(ctx);
    }
}

static void test_malformed_protocols_env_is_eenvproto(void **state)
{
    static const char *bad[] = {"ipv5", "ipv4,ipv4", "ipv4,", ",ipv6",
                                "ipv4;ipv6", "IPV4", "ipv4,ipv6,ipv4"};
    anysock_ctx *ctx = (anysock_ctx *)(void *)&ctx;   /* must stay */
    anysock_config cfg;

    (void)state;
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(bad); i++) {
        print_message("%s\n", bad[i]);
        assert_int_equal(with_env("ANYSOCK_PROTOCOLS", bad[i], &ctx),
                         ANYSOCK_EENVPROTO);
        assert_ptr_equal(ctx, (anysock_ctx *)(void *)&ctx);
    }
    unsetenv("ANYSOCK_PROTOCOLS");
    anysock_config_init(&cfg);
    cfg.protocols = "ipv7";
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), ANYSOCK_ECONFIG);
}

static void test_dns_servers_env_accepts_good_lists(void **state)
{
    static const char *good[] = {"127.0.0.1", "127.0.0.1:5353",
                                 "[::1]:53", "::1",
                                 "127.0.0.1:53,[::1]:5353,127.0.0.2"};

    (void)state;
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(good); i++) {
        anysock_ctx *ctx = NULL;

        print_message("%s\n", good[i]);
        assert_int_equal(with_env("ANYSOCK_DNS_SERVERS", good[i], &ctx), 0);
        anysock_ctx_free(ctx);
    }
}

static void test_malformed_dns_servers_env_is_eenvdns(void **state)
{
    static const char *bad[] = {"1.2.3", "127.0.0.1:0", "127.0.0.1:99999",
                                "[::1", "[::1]53", "127.0.0.1:53x",
                                "127.0.0.1,,127.0.0.2", "127.0.0.1,",
                                "localhost", "127.0.0.1:", " 127.0.0.1"};

    (void)state;
    for (size_t i = 0; i < ANYSOCK__ARRAY_SIZE(bad); i++) {
        anysock_ctx *ctx = NULL;

        print_message("%s\n", bad[i]);
        assert_int_equal(with_env("ANYSOCK_DNS_SERVERS", bad[i], &ctx),
                         ANYSOCK_EENVDNS);
        assert_null(ctx);
    }
}

static void test_hosts_env_must_not_be_a_directory(void **state)
{
    anysock_ctx *ctx = NULL;

    (void)state;
    assert_int_equal(with_env("ANYSOCK_HOSTS", "/", &ctx),
                     ANYSOCK_EENVHOSTS);
    assert_null(ctx);
    /* a missing file is an empty one, as for AnyEvent */
    assert_int_equal(with_env("ANYSOCK_HOSTS", "/nonexistent/hosts", &ctx),
                     0);
    assert_string_equal(ctx->hosts_path, "/nonexistent/hosts");
    anysock_ctx_free(ctx);
}

static void test_bad_config_values_are_econfig(void **state)
{
    anysock_config cfg;
    anysock_ctx *ctx = NULL;

    (void)state;
    anysock_config_init(&cfg);
    cfg.dns_timeout = -1;
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), ANYSOCK_ECONFIG);
    anysock_config_init(&cfg);
    cfg.dns_tries = -2;
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), ANYSOCK_ECONFIG);
    anysock_config_init(&cfg);
    cfg.dns_servers = "nonsense";
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), ANYSOCK_ECONFIG);
    assert_null(ctx);
    assert_int_equal(anysock_ctx_new(NULL, &cfg, &ctx), -EINVAL);
}

static void test_absurd_config_values_are_econfig(void **state)
{
    static const double bad_time[] = {-1, -1e-9, NAN, -NAN, INFINITY,
                                      -INFINITY, 3600.001, 1e300, DBL_MAX};
    static const int bad_tries[] = {INT_MIN, -1, 11, 1000, INT_MAX};
    anysock_config cfg;
    anysock_ctx *ctx = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof bad_time / sizeof *bad_time; i++) {
        anysock_config_init(&cfg);
        cfg.dns_servers = "127.0.0.1:9";
        cfg.dns_timeout = bad_time[i];
        assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), ANYSOCK_ECONFIG);
        anysock_config_init(&cfg);
        cfg.dns_servers = "127.0.0.1:9";
        cfg.connect_delay = bad_time[i];
        assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), ANYSOCK_ECONFIG);
    }
    for (size_t i = 0; i < sizeof bad_tries / sizeof *bad_tries; i++) {
        anysock_config_init(&cfg);
        cfg.dns_servers = "127.0.0.1:9";
        cfg.dns_tries = bad_tries[i];
        assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), ANYSOCK_ECONFIG);
    }
    anysock_config_init(&cfg);
    cfg.dns_max_inflight = INT_MIN;
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), ANYSOCK_ECONFIG);
    assert_null(ctx);
    assert_string_equal(anysock_strerror(ANYSOCK_ECONFIG),
                        "invalid configuration");
    /* the bounds themselves are fine, and a finite deadline comes out */
    anysock_config_init(&cfg);
    cfg.dns_servers = "127.0.0.1:9";
    cfg.dns_timeout = 3600;
    cfg.dns_tries = 10;
    cfg.connect_delay = 3600;
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), 0);
    assert_true(ctx->dns_deadline == 3600.0 * 1024);
    anysock_ctx_free(ctx);
    /* a timeout far below a millisecond still times out (not at 0 ms) */
    cfg.dns_timeout = 1e-9;
    cfg.dns_tries = 1;
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), 0);
    anysock_ctx_free(ctx);
}

static void test_lookup_deadline_follows_timeout_and_tries(void **state)
{
    anysock_config cfg;
    anysock_ctx *ctx;

    (void)state;
    anysock_config_init(&cfg);
    cfg.dns_servers = "127.0.0.1:9";
    cfg.dns_timeout = 1;
    cfg.dns_tries = 2;
    assert_int_equal(anysock_ctx_new(loop, &cfg, &ctx), 0);
    /* 1 + 2 s of c-ares tries, plus one more first try for server two */
    assert_true(ctx->dns_deadline == 4);
    anysock_ctx_free(ctx);
    assert_int_equal(anysock_ctx_new(loop, NULL, &ctx), 0);
    assert_true(ctx->dns_deadline <= 20);
    anysock_ctx_free(ctx);
}

static void test_dns_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(anysock__dns_status(0), 0);
    assert_int_equal(anysock__dns_status(ARES_ENODATA), -ENXIO);
    assert_int_equal(anysock__dns_status(ARES_ENOTFOUND), -ENXIO);
    assert_int_equal(anysock__dns_status(ARES_ETIMEOUT), ANYSOCK_EDNSTIMEOUT);
    assert_int_equal(anysock__dns_status(ARES_ESERVFAIL),
                     ANYSOCK_ESERVFAIL);
    assert_int_equal(anysock__dns_status(ARES_EREFUSED),
                     ANYSOCK_EREFUSED);
    assert_int_equal(anysock__dns_status(ARES_EBADRESP),
                     ANYSOCK_EBADRESP);
    assert_int_equal(anysock__dns_status(ARES_ENOTIMP), ANYSOCK_EDNS);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_init_defaults),
        T(test_idle_ctx_keeps_nothing_active),
        T(test_protocols_order_sets_preference),
        T(test_malformed_protocols_env_is_eenvproto),
        T(test_dns_servers_env_accepts_good_lists),
        T(test_malformed_dns_servers_env_is_eenvdns),
        T(test_hosts_env_must_not_be_a_directory),
        T(test_bad_config_values_are_econfig),
        T(test_absurd_config_values_are_econfig),
        T(test_lookup_deadline_follows_timeout_and_tries),
        T(test_dns_status_mapping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
