/* Transport options with real effect, inside a private network namespace
 * (tests/harness/netns.sh: only loopback, our own nftables table, our own
 * sysctls):
 * - keepalive and TCP_USER_TIMEOUT: a peer black-holed by nftables in the
 *   middle of a connection is detected within the configured time, while
 *   a connection without the option still looks healthy;
 * - MPTCP with net.mptcp.enabled=1 (SO_PROTOCOL is IPPROTO_MPTCP at both
 *   ends) and the fallback to TCP with it 0;
 * - TCP Fast Open with net.ipv4.tcp_fastopen=3: after a cookie exchange,
 *   the data of the next connection arrives with its SYN
 *   (TcpExt TCPFastOpenPassive in /proc/net/netstat).
 * A missing kernel feature is a SKIP with the reason, never a pass. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>

#include "internal.h"
#include "harness/nettest.h"

#include "harness/transport_fx.h"

/* Write a sysctl of this namespace; false when it does not exist. */
static bool sysctl_set(const char *path, const char *value)
{
    FILE *fp = fopen(path, "w");
    bool ok;

    if (fp == NULL)
        return false;
    ok = fputs(value, fp) >= 0;
    return fclose(fp) == 0 && ok;
}

static void serve(fx *f, const char *host, const anysock_server_opts *so)
{
    tx_serve(f, host, so);
}

static int connect_with(fx *f, const char *host,
                        const anysock_connect_opts *o)
{
    return tx_connect(f, f->ctx, host, o, true);
}

static int nft(const char *rules)
{
    char cmd[512];

    snprintf(cmd, sizeof cmd, "nft '%s' 2>/dev/null", rules);
    return system(cmd);
}

/* Seconds until fd reports an error (POLLERR/POLLHUP), at most limit;
 * the error in *err. A second, plain connection (ctl) must stay
 * healthy all along: the failure is the option's doing. */
static double wait_error(int fd, int ctl, double limit, int *err)
{
    double t0 = nt_now();
    socklen_t len = sizeof *err;
    struct pollfd p = {fd, POLLIN, 0};

    *err = 0;
    while (nt_now() - t0 < limit) {
        if (poll(&p, 1, 50) > 0 && (p.revents & (POLLERR | POLLHUP))) {
            getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len);
            break;
        }
    }
    len = sizeof(int);
    {
        int cerr = 0;

        getsockopt(ctl, SOL_SOCKET, SO_ERROR, &cerr, &len);
        assert_int_equal(cerr, 0);
    }
    return nt_now() - t0;
}

static void blackhole_case(fx *f, const char *addr, bool keepalive)
{
    anysock_connect_opts o;
    char rule[256];
    int ctl, ctl_peer, fd, err;
    double t;

    serve(f, addr, NULL);
    /* a control connection without the option */
    ctl = nt_connect(addr, f->port);
    assert_true(ctl >= 0);
    for (int i = 0; i < 2000 && f->accepted < 0; i++) {
        ev_run(f->loop, EVRUN_ONCE | EVRUN_NOWAIT);
        usleep(1000);
    }
    assert_true(f->accepted >= 0);
    ctl_peer = f->accepted;   /* kept open: ctl must stay healthy */
    f->accepted = -1;
    anysock_connect_opts_init(&o);
    if (keepalive) {
        o.keepalive = 1;
        o.keepidle = 1;
        o.keepintvl = 1;
        o.keepcnt = 2;
    } else {
        o.user_timeout_ms = 1500;
    }
    assert_int_equal(connect_with(f, addr, &o), 0);
    fd = f->fd;
    /* data flows first: the connection is established and used */
    assert_int_equal(write(fd, "x", 1), 1);
    for (int i = 0; i < 1000; i++) {
        char c;

        if (read(f->accepted, &c, 1) == 1)
            break;
        usleep(1000);
    }
    /* now the peer vanishes: every packet to or from it is dropped */
    snprintf(rule, sizeof rule,
             "add rule inet anysock_test out ip daddr %s drop", addr);
    if (nft(rule) != 0)
        skip();
    snprintf(rule, sizeof rule,
             "add rule inet anysock_test out ip saddr %s drop", addr);
    assert_int_equal(nft(rule), 0);
    if (!keepalive)   /* unacknowledged data: retransmissions time out */
        assert_int_equal(write(fd, "y", 1), 1);
    t = wait_error(fd, ctl, 30., &err);
    print_message("%s: peer black-holed, connection failed after %.2f s "
                  "(%s)\n", keepalive ? "keepalive 1,1,2" :
                  "TCP_USER_TIMEOUT 1500 ms", t, anysock_strerror(-err));
    assert_int_equal(err, ETIMEDOUT);
    /* keepalive: 1 s idle + 2 probes 1 s apart; user timeout: 1.5 s.
     * The default would be minutes (15 of retransmissions, or 2 h idle) */
    assert_true(t >= 1.0);
    assert_true(t < 10.0);
    close(ctl);
    close(ctl_peer);
    drop_conn(f);
    ev_now_update(f->loop);   /* the loop slept through the wait */
}

static void test_keepalive_detects_blackholed_peer(void **state)
{
    blackhole_case(*state, "127.0.0.3", true);
}

static void test_user_timeout_detects_blackholed_peer(void **state)
{
    blackhole_case(*state, "127.0.0.4", false);
}

static void mptcp_case(fx *f, bool enabled)
{
    anysock_server_opts so;
    anysock_connect_opts o;
    int want = enabled ? IPPROTO_MPTCP : IPPROTO_TCP, v;
    socklen_t len = sizeof v;
    char buf[4];

    if (!sysctl_set("/proc/sys/net/mptcp/enabled", enabled ? "1" : "0"))
        SKIP("kernel without MPTCP (no /proc/sys/net/mptcp/enabled)");
    anysock_server_opts_init(&so);
    so.flags = ANYSOCK_LISTEN_MPTCP;
    serve(f, "127.0.0.1", &so);
    anysock_connect_opts_init(&o);
    o.flags = ANYSOCK_CONNECT_MPTCP;
    o.trace = on_trace;
    o.trace_data = f;
    f->mptcp_trace = -1;
    assert_int_equal(connect_with(f, "127.0.0.1", &o), 0);
    assert_int_equal(f->mptcp_trace, enabled ? 1 : 0);
    assert_int_equal(getsockopt(f->fd, SOL_SOCKET, SO_PROTOCOL, &v, &len), 0);
    assert_int_equal(v, want);
    len = sizeof v;
    assert_int_equal(getsockopt(f->accepted, SOL_SOCKET, SO_PROTOCOL, &v,
                                &len), 0);
    assert_int_equal(v, want);
    /* and it carries data either way */
    assert_int_equal(write(f->fd, "abc", 3), 3);
    for (int i = 0; i < 2000; i++) {
        if (read(f->accepted, buf, 3) == 3) {
            assert_memory_equal(buf, "abc", 3);
            print_message("net.mptcp.enabled=%d: client and server use %s\n",
                          enabled, enabled ? "MPTCP" : "TCP (fallback)");
            drop_conn(f);
            return;
        }
        usleep(1000);
    }
    fail_msg("no data");
}

static void test_mptcp_enabled_uses_mptcp(void **state)
{
    mptcp_case(*state, true);
}

static void test_mptcp_disabled_falls_back_to_tcp(void **state)
{
    mptcp_case(*state, false);
}

/* A TcpExt counter of this namespace, or -1. */
static long tcpext(const char *name)
{
    FILE *fp = fopen("/proc/net/netstat", "r");
    char names[4096], vals[4096];
    long v = -1;

    if (fp == NULL)
        return -1;
    while (fgets(names, sizeof names, fp) != NULL &&
           fgets(vals, sizeof vals, fp) != NULL) {
        char *sn, *sv, *n, *x;

        if (strncmp(names, "TcpExt:", 7) != 0)
            continue;
        n = strtok_r(names + 7, " \n", &sn);
        x = strtok_r(vals + 7, " \n", &sv);
        while (n != NULL && x != NULL) {
            if (strcmp(n, name) == 0)
                v = atol(x);
            n = strtok_r(NULL, " \n", &sn);
            x = strtok_r(NULL, " \n", &sv);
        }
    }
    fclose(fp);
    return v;
}

static void test_fastopen_data_with_syn_after_cookie(void **state)
{
    fx *f = *state;
    anysock_server_opts so;
    anysock_connect_opts o;
    long passive0, passive1, passive2;
    char buf[8];

    if (!sysctl_set("/proc/sys/net/ipv4/tcp_fastopen", "3"))
        SKIP("no net.ipv4.tcp_fastopen here");
    passive0 = tcpext("TCPFastOpenPassive");
    if (passive0 < 0)
        SKIP("no TCPFastOpenPassive counter in /proc/net/netstat");
    anysock_server_opts_init(&so);
    so.fastopen_qlen = 16;
    serve(f, "127.0.0.1", &so);
    anysock_connect_opts_init(&o);
    o.flags = ANYSOCK_CONNECT_FASTOPEN;
    for (int round = 0; round < 2; round++) {
        /* round 0 gets the cookie; round 1 uses it: connect_cb runs
         * before any packet, the write carries the SYN */
        assert_int_equal(tx_connect(f, f->ctx, "127.0.0.1", &o, false), 0);
        assert_int_equal(write(f->fd, round ? "two" : "one", 3), 3);
        for (int i = 0; i < 2000 && f->accepted < 0; i++) {
            ev_run(f->loop, EVRUN_ONCE | EVRUN_NOWAIT);
            usleep(1000);
        }
        for (int i = 0; i < 2000; i++) {
            if (read(f->accepted, buf, 3) == 3)
                break;
            usleep(1000);
        }
        assert_memory_equal(buf, round ? "two" : "one", 3);
        if (round == 0)
            passive1 = tcpext("TCPFastOpenPassive");
        drop_conn(f);
    }
    passive2 = tcpext("TCPFastOpenPassive");
    print_message("TCPFastOpenPassive: %ld before, %ld after the cookie "
                  "exchange, %ld after the second connection\n", passive0,
                  passive1, passive2);
    assert_int_equal(passive1, passive0);      /* the first: a cookie */
    assert_int_equal(passive2, passive0 + 1);  /* the second: data+SYN */
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_keepalive_detects_blackholed_peer),
        T(test_user_timeout_detects_blackholed_peer),
        T(test_mptcp_enabled_uses_mptcp),
        T(test_mptcp_disabled_falls_back_to_tcp),
        T(test_fastopen_data_with_syn_after_cookie),
    };

    signal(SIGPIPE, SIG_IGN);
    if (getenv("ANYSOCK_NETNS_BLACKHOLE") == NULL) {
        /* sysctls and nftables rules must stay in a namespace of ours */
        fprintf(stderr, "SKIPPED: run me through tests/harness/netns.sh\n");
        return 77;
    }
    if (getenv("ANYSOCK_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("ANYSOCK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
