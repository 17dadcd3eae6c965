/* tcp_connect against a firewalled address: run by tests/harness/netns.sh
 * inside a network namespace whose nftables rule drops SYNs to
 * $ANYSOCK_NETNS_BLACKHOLE (127.0.0.2). Elsewhere every test skips. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "internal.h"
#include "harness/nettest.h"
#include "harness/fakedns_group.h"

typedef struct fx {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    anysock_guard *guard;
    char *hosts;
    const char *hole;
    int fds_before;
    int calls, status, fd, prepares;
    char host[ANYSOCK_ADDRESS_STRLEN];
    double timeout;
    bool done;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    f->hole = getenv("ANYSOCK_NETNS_BLACKHOLE");
    f->fds_before = nt_count_fds();
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->fd = -1;
    *state = f;
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
    if (f->hosts) {
        unlink(f->hosts);
        free(f->hosts);
    }
    assert_int_equal(nt_count_fds(), f->fds_before);
    free(f);
    return 0;
}

static void need_namespace(fx *f)
{
    if (f->hole == NULL) {
        print_message("skipped: needs tests/harness/netns.sh (root)\n");
        skip();
    }
}

static void make_ctx(fx *f, const char *hosts, double delay)
{
    anysock_config cfg;

    anysock_config_init(&cfg);
    cfg.connect_delay = delay;
    cfg.dns_servers = dns_server;
    f->hosts = nt_hosts_file(hosts);
    cfg.hosts_file = f->hosts;
    assert_int_equal(anysock_ctx_new(f->loop, &cfg, &f->ctx), 0);
}

static double on_prepare(void *data, int fd)
{
    fx *f = data;

    (void)fd;
    f->prepares++;
    return f->timeout;
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    fx *f = data;

    (void)port;
    f->calls++;
    f->status = status;
    f->fd = fd;
    snprintf(f->host, sizeof f->host, "%s", host ? host : "");
    f->done = true;
}

static void test_netns_attempt_timeout_fires(void **state)
{
    fx *f = *state;
    double t0, took;

    need_namespace(f);
    make_ctx(f, "", 0.25);
    f->timeout = 0.5;
    t0 = nt_now();
    assert_int_equal(anysock_tcp_connect(f->ctx, f->hole, "80", on_connect,
                                         on_prepare, f, &f->guard), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    took = nt_now() - t0;
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->status, -ETIMEDOUT);
    assert_true(took >= 0.49);
    assert_true(took < 1.0);
}

static void test_netns_happy_eyeballs_connects_second_target(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char hosts[128], p[8];
    int l;
    double t0, took;

    need_namespace(f);
    l = nt_listen(AF_INET, "127.0.0.1", &port, 8);
    assert_true(l >= 0);
    snprintf(hosts, sizeof hosts, "%s nx.he.test\n127.0.0.1 nx.he.test\n",
             f->hole);
    make_ctx(f, hosts, 0.25);
    snprintf(p, sizeof p, "%u", port);
    t0 = nt_now();
    assert_int_equal(anysock_tcp_connect(f->ctx, "nx.he.test", p, on_connect,
                                         on_prepare, f, &f->guard), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    took = nt_now() - t0;
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_int_equal(f->prepares, 2);
    /* about one attempt delay, not a kernel SYN timeout */
    assert_true(took >= 0.24);
    assert_true(took < 0.8);
    close(l);
}

static void test_netns_blackholed_attempt_is_closed_on_win(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char hosts[128], p[8];
    int l, before;

    need_namespace(f);
    l = nt_listen(AF_INET, "127.0.0.1", &port, 8);
    snprintf(hosts, sizeof hosts, "%s nx.he.test\n127.0.0.1 nx.he.test\n",
             f->hole);
    make_ctx(f, hosts, 0.1);
    snprintf(p, sizeof p, "%u", port);
    before = nt_count_fds();
    assert_int_equal(anysock_tcp_connect(f->ctx, "nx.he.test", p, on_connect,
                                         NULL, f, &f->guard), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, 0);
    /* only the winner is left open */
    assert_int_equal(nt_count_fds(), before + 1);
    close(l);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_netns_attempt_timeout_fires),
        T(test_netns_happy_eyeballs_connects_second_target),
        T(test_netns_blackholed_attempt_is_closed_on_win),
    };

    return cmocka_run_group_tests(tests, fakedns_group_setup,
                                  fakedns_group_teardown);
}
