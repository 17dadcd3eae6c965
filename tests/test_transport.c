/* Client transport options (anysock_connect_opts, src/sockopt.c) on real
 * loopback sockets: each option read back with getsockopt on the
 * connected socket, the source address and port as the server sees
 * them, a source of the wrong family failing only its attempts, invalid
 * options refused up front, MPTCP end to end where the kernel has it.
 * Effects that need a black hole or sysctls: test_transport_netns.c. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <net/if.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/un.h>

#include "internal.h"
#include "harness/nettest.h"

/* Every setsockopt of the library goes through here (-Wl,--wrap): the
 * unprivileged case of SO_BINDTODEVICE (EPERM before Linux 5.7 without
 * CAP_NET_RAW) cannot happen on a newer kernel, so it is made to. */
static int deny_bindtodevice;
int __real_setsockopt(int fd, int level, int name, const void *v,
                      socklen_t len);
int __wrap_setsockopt(int fd, int level, int name, const void *v,
                      socklen_t len);
int __wrap_setsockopt(int fd, int level, int name, const void *v,
                      socklen_t len)
{
    if (deny_bindtodevice && level == SOL_SOCKET &&
        name == SO_BINDTODEVICE) {
        errno = EPERM;
        return -1;
    }
    return __real_setsockopt(fd, level, name, v, len);
}

#include "harness/transport_fx.h"

static void serve(fx *f, const char *host, unsigned flags)
{
    anysock_server_opts so;

    anysock_server_opts_init(&so);
    so.flags = flags;
    tx_serve(f, host, &so);
}

static int connect_with(fx *f, anysock_ctx *ctx, const char *host,
                        const anysock_connect_opts *o)
{
    return tx_connect(f, ctx, host, o, true);
}

static int get_int(int fd, int level, int name)
{
    int v = -12345;
    socklen_t len = sizeof v;

    assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static void local_of(int fd, char host[ANYSOCK_ADDRESS_STRLEN],
                     unsigned *port)
{
    anysock_sockaddr sa;
    anysock_addr a;
    uint16_t p = 0;

    sa.len = sizeof sa.u;
    assert_int_equal(getsockname(fd, &sa.u.sa, &sa.len), 0);
    assert_int_equal(anysock_unpack_sockaddr(&sa.u.sa, sa.len, &a, &p, NULL,
                                             NULL), 0);
    assert_true(anysock_format_address(&a, host, ANYSOCK_ADDRESS_STRLEN) > 0);
    *port = p;
}

static void test_transport_every_option_read_back(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    char host[ANYSOCK_ADDRESS_STRLEN], dev[IF_NAMESIZE] = "";
    socklen_t dl = sizeof dev;
    unsigned lport;

    serve(f, "127.0.0.1", 0);
    anysock_connect_opts_init(&o);
    o.flags = ANYSOCK_CONNECT_NODELAY;
    o.keepalive = 1;
    o.keepidle = 7;
    o.keepintvl = 3;
    o.keepcnt = 4;
    o.user_timeout_ms = 2500;
    o.bind_addr = "127.0.0.5";
    o.interface = "lo";
    assert_int_equal(connect_with(f, f->ctx, "127.0.0.1", &o), 0);
    assert_true(nt_fd_flags_ok(f->fd));
    assert_int_equal(get_int(f->fd, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_int_equal(get_int(f->fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(get_int(f->fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
    assert_int_equal(get_int(f->fd, IPPROTO_TCP, TCP_KEEPINTVL), 3);
    assert_int_equal(get_int(f->fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
    assert_int_equal(get_int(f->fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
    assert_int_equal(get_int(f->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), 1);
    assert_int_equal(get_int(f->fd, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
    /* SO_BINDTODEVICE, or its unprivileged fallback */
    assert_int_equal(getsockopt(f->fd, SOL_SOCKET, SO_BINDTODEVICE, dev,
                                &dl), 0);
    if (dev[0] != '\0')
        assert_string_equal(dev, "lo");
    else
        assert_int_equal(get_int(f->fd, IPPROTO_IP, IP_UNICAST_IF),
                         (int)htonl(if_nametoindex("lo")));
    /* the source address, at both ends */
    local_of(f->fd, host, &lport);
    assert_string_equal(host, "127.0.0.5");
    assert_string_equal(f->peer, "127.0.0.5");
    assert_int_equal(f->peer_port, lport);
    /* the accepted socket: ours too (flags), options are per socket */
    assert_true(nt_fd_flags_ok(f->accepted));
    assert_int_equal(get_int(f->accepted, SOL_SOCKET, SO_KEEPALIVE), 0);
    assert_int_equal(get_int(f->accepted, SOL_SOCKET, SO_PROTOCOL),
                     IPPROTO_TCP);
}

static void test_transport_defaults_leave_socket_alone(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;

    serve(f, "127.0.0.1", 0);
    anysock_connect_opts_init(&o);
    assert_int_equal(connect_with(f, f->ctx, "127.0.0.1", &o), 0);
    assert_int_equal(get_int(f->fd, IPPROTO_TCP, TCP_NODELAY), 0);
    assert_int_equal(get_int(f->fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    assert_int_equal(get_int(f->fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
}

/* A port nobody uses on addr right now. */
static unsigned free_port(const char *addr)
{
    unsigned port = 0;
    int fd = nt_listen(0, addr, &port, 1);

    assert_true(fd >= 0);
    close(fd);
    return port;
}

static void test_transport_fixed_source_port(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    char bind[32], host[ANYSOCK_ADDRESS_STRLEN];
    unsigned sport = free_port("127.0.0.6"), lport;

    serve(f, "127.0.0.1", 0);
    snprintf(bind, sizeof bind, "127.0.0.6:%u", sport);
    anysock_connect_opts_init(&o);
    o.bind_addr = bind;
    assert_int_equal(connect_with(f, f->ctx, "127.0.0.1", &o), 0);
    assert_string_equal(f->peer, "127.0.0.6");
    assert_int_equal(f->peer_port, sport);
    local_of(f->fd, host, &lport);
    assert_int_equal(lport, sport);
    /* not IP_BIND_ADDRESS_NO_PORT: the port was fixed */
    assert_int_equal(get_int(f->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), 0);
}

static void test_transport_ipv6_source_address(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    unsigned sport = free_port("::1");
    char bind[32];

    serve(f, "::1", 0);
    snprintf(bind, sizeof bind, "[::1]:%u", sport);
    anysock_connect_opts_init(&o);
    o.bind_addr = bind;
    assert_int_equal(connect_with(f, f->ctx, "::1", &o), 0);
    assert_string_equal(f->peer, "::1");
    assert_int_equal(f->peer_port, sport);
}

static void test_transport_wrong_family_fails_that_attempt(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    anysock_attempt at[8];
    anysock_config cfg;
    anysock_ctx *ctx6;
    size_t n, bad = 0;

    serve(f, NULL, 0);   /* dual-stack: both families reach it */
    anysock_connect_opts_init(&o);
    o.bind_addr = "::1";
    /* the only target is IPv4: that attempt fails, clearly */
    assert_int_equal(connect_with(f, f->ctx, "127.0.0.1", &o),
                     -EAFNOSUPPORT);
    assert_int_equal(f->fd, -1);
    anysock_guard_cancel(&f->client);
    /* localhost is ::1 and 127.0.0.1; IPv6 first: its attempt fails at
     * the socket stage and IPv4 still connects from the chosen source */
    anysock_config_init(&cfg);
    cfg.protocols = "ipv6,ipv4";
    assert_int_equal(anysock_ctx_new(f->loop, &cfg, &ctx6), 0);
    o.bind_addr = "127.0.0.7";
    assert_int_equal(connect_with(f, ctx6, "localhost", &o), 0);
    assert_string_equal(f->peer, "127.0.0.7");
    n = anysock_connect_report(f->client, at, 8);
    assert_true(n >= 2 && n <= 8);
    for (size_t i = 0; i < n; i++) {
        if (at[i].family == AF_INET6) {
            assert_int_equal(at[i].status, -EAFNOSUPPORT);
            assert_int_equal(at[i].phase, ANYSOCK_PHASE_SOCKET);
            bad++;
        }
    }
    assert_int_equal(bad, 1);
    anysock_guard_cancel(&f->client);
    anysock_ctx_free(ctx6);
}

static void test_transport_invalid_options_are_einval(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    static const char *binds[] = {"nonsense", "127.0.0.1:99999", "unix/",
                                  "127.0.0.1:http", "[::1", ""};

    for (int k = 0; k < 10; k++) {
        anysock_connect_opts_init(&o);
        switch (k) {
        /* unknown flag bits and keepalive values, as tcp_server_ex */
        case 6: o.flags = 0xffffffffu; break;
        case 7: o.flags = ANYSOCK_CONNECT_NODELAY | 0x100u; break;
        case 8: o.keepalive = -1; break;
        case 9: o.keepalive = 2; break;
        case 0: o.keepidle = -1; break;
        case 1: o.keepcnt = 200; break;
        case 2: o.keepintvl = 40000; break;
        case 3: o.interface = ""; break;
        case 4: o.interface = "a-name-far-too-long-for-ifnamsiz"; break;
        default: o.user_timeout_ms = 0x80000000u; break;
        }
        assert_int_equal(anysock_tcp_connect_ex(f->ctx, "127.0.0.1", "1", &o,
                                                on_connect, NULL, f,
                                                &f->client), -EINVAL);
    }
    for (size_t k = 0; k < sizeof binds / sizeof binds[0]; k++) {
        anysock_connect_opts_init(&o);
        o.bind_addr = binds[k];
        assert_int_equal(anysock_tcp_connect_ex(f->ctx, "127.0.0.1", "1", &o,
                                                on_connect, NULL, f,
                                                &f->client), -EINVAL);
    }
    assert_null(f->client);
    assert_false(f->done);
}

static void test_transport_unknown_interface_is_enodev(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;

    serve(f, "127.0.0.1", 0);
    anysock_connect_opts_init(&o);
    o.interface = "anysocknoif0";
    assert_int_equal(connect_with(f, f->ctx, "127.0.0.1", &o), -ENODEV);
}

static void test_transport_interface_falls_back_without_privilege(
    void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    char dev[IF_NAMESIZE];
    socklen_t dl;
    unsigned lo = if_nametoindex("lo");
    const char *hosts[] = {"127.0.0.1", "::1"};

    assert_true(lo > 0);
    anysock_connect_opts_init(&o);
    o.interface = "lo";
    deny_bindtodevice = 1;
    for (int k = 0; k < 2; k++) {
        serve(f, hosts[k], 0);
        assert_int_equal(connect_with(f, f->ctx, hosts[k], &o), 0);
        dl = sizeof dev;
        memset(dev, 0, sizeof dev);
        assert_int_equal(getsockopt(f->fd, SOL_SOCKET, SO_BINDTODEVICE, dev,
                                    &dl), 0);
        assert_string_equal(dev, "");   /* not bound to the device... */
        if (k == 0)                     /* ...but routed through it */
            assert_int_equal(get_int(f->fd, IPPROTO_IP, IP_UNICAST_IF),
                             (int)htonl(lo));
        else
            assert_int_equal(get_int(f->fd, IPPROTO_IPV6, IPV6_UNICAST_IF),
                             (int)htonl(lo));
        assert_int_equal(write(f->fd, "x", 1), 1);
        anysock_guard_cancel(&f->client);
        anysock_guard_cancel(&f->server);
        close(f->fd);
        close(f->accepted);
        f->fd = f->accepted = -1;
    }
    deny_bindtodevice = 0;
}

static void test_transport_fastopen_sets_connect_option(void **state)
{
    anysock_connect_opts o;
    int fd, mp = 7;

    (void)state;
    anysock_connect_opts_init(&o);
    o.flags = ANYSOCK_CONNECT_FASTOPEN;
    fd = anysock__connect_socket(&o, AF_INET, SOCK_STREAM, IPPROTO_TCP, 1,
                                 &mp);
    assert_true(fd >= 0);
    assert_int_equal(mp, 0);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT), 1);
    close(fd);
    /* the per-attempt decision is the caller's: fastopen 0, no TFO */
    fd = anysock__connect_socket(&o, AF_INET, SOCK_STREAM, IPPROTO_TCP, 0,
                                 &mp);
    assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT), 0);
    close(fd);
    /* unix targets get a plain socket whatever the options */
    o.flags |= ANYSOCK_CONNECT_MPTCP | ANYSOCK_CONNECT_NODELAY;
    o.bind_addr = "127.0.0.1";
    fd = anysock__connect_socket(&o, AF_UNIX, SOCK_STREAM, 0, 1, &mp);
    assert_true(fd >= 0);
    assert_int_equal(mp, 0);
    assert_true(nt_fd_flags_ok(fd));
    close(fd);
}

static bool mptcp_enabled(void)
{
    FILE *fp = fopen("/proc/sys/net/mptcp/enabled", "r");
    int v = 0;

    if (fp == NULL)
        return false;
    if (fscanf(fp, "%d", &v) != 1)
        v = 0;
    fclose(fp);
    return v == 1;
}

static void test_transport_mptcp_end_to_end(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    char buf[4];

    if (!mptcp_enabled())
        SKIP("no MPTCP here (/proc/sys/net/mptcp/enabled missing or 0); "
             "the fallback is tested in test_transport_netns");
    serve(f, "127.0.0.1", ANYSOCK_LISTEN_MPTCP);
    anysock_connect_opts_init(&o);
    o.flags = ANYSOCK_CONNECT_MPTCP | ANYSOCK_CONNECT_NODELAY;
    o.trace = on_trace;
    o.trace_data = f;
    assert_int_equal(connect_with(f, f->ctx, "127.0.0.1", &o), 0);
    assert_int_equal(f->mptcp_trace, 1);
    assert_int_equal(get_int(f->fd, SOL_SOCKET, SO_PROTOCOL), IPPROTO_MPTCP);
    assert_int_equal(get_int(f->accepted, SOL_SOCKET, SO_PROTOCOL),
                     IPPROTO_MPTCP);
    assert_int_equal(get_int(f->fd, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_int_equal(write(f->fd, "mp!", 3), 3);
    for (int i = 0; i < 1000; i++) {
        ssize_t r = read(f->accepted, buf, 3);

        if (r == 3) {
            assert_memory_equal(buf, "mp!", 3);
            return;
        }
        ev_run(f->loop, EVRUN_NOWAIT);
        usleep(1000);
    }
    fail_msg("no data over MPTCP");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_transport_every_option_read_back),
        T(test_transport_defaults_leave_socket_alone),
        T(test_transport_fixed_source_port),
        T(test_transport_ipv6_source_address),
        T(test_transport_wrong_family_fails_that_attempt),
        T(test_transport_invalid_options_are_einval),
        T(test_transport_unknown_interface_is_enodev),
        T(test_transport_interface_falls_back_without_privilege),
        T(test_transport_fastopen_sets_connect_option),
        T(test_transport_mptcp_end_to_end),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
