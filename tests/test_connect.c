/* tcp_connect: targets in turn, timeouts, retry, unix sockets, Happy
 * Eyeballs against a loopback blackhole (a full accept queue), and
 * cancellation at every stage without leaking fds or watchers. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/tcp.h>
#include <time.h>

#include "internal.h"
#include "harness/nettest.h"
#include "harness/fakedns_group.h"

typedef struct fx {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    anysock_guard *guard;
    char *hosts;
    int fds_before;
    /* results */
    int calls;
    int status;
    int fd;
    char host[ANYSOCK_ADDRESS_STRLEN];
    unsigned port;
    bool done;
    bool returned;        /* tcp_connect has returned */
    bool early;           /* a callback ran before it returned */
    /* behaviour knobs */
    double timeout;       /* prepare_cb's answer */
    int prepares;
    bool cancel_in_prepare, cancel_in_connect, retry_in_connect;
    int keep_fds[8];
    int nkeep;
    int fds_mid, fds_after_cancel;
} fx;

/* never the network: only the fake DNS, then the hosts file */
static int make_ctx(fx *f, const char *hosts, double delay)
{
    return nt_make_ctx(f->loop, dns_server, hosts, delay, &f->ctx, &f->hosts);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    f->fds_before = nt_count_fds();
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->fd = -1;
    assert_int_equal(make_ctx(f, NULL, -1.), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    anysock_guard_cancel(&f->guard);
    for (int i = 0; i < f->nkeep; i++)
        close(f->keep_fds[i]);
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

static double on_prepare(void *data, int fd)
{
    fx *f = data;

    assert_true(nt_fd_flags_ok(fd));
    f->prepares++;
    if (f->cancel_in_prepare) {
        anysock_guard_cancel(&f->guard);
        f->done = true;
    }
    return f->timeout;
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    fx *f = data;

    if (!f->returned)
        f->early = true;
    f->calls++;
    f->status = status;
    f->port = port;
    f->host[0] = '\0';
    if (host != NULL)
        snprintf(f->host, sizeof f->host, "%s", host);
    if (status == 0) {
        assert_true(fd >= 0);
        assert_true(nt_fd_flags_ok(fd));
        if (f->retry_in_connect) {
            f->keep_fds[f->nkeep++] = fd;
            assert_int_equal(anysock_tcp_connect_retry(f->guard), 0);
            return;
        }
        if (f->fd >= 0)
            close(f->fd);
        f->fd = fd;
    } else {
        assert_int_equal(fd, -1);
        assert_null(host);
    }
    if (f->cancel_in_connect)
        anysock_guard_cancel(&f->guard);
    f->done = true;
}

static int start(fx *f, const char *host, const char *service)
{
    int rc;

    f->returned = false;
    rc = anysock_tcp_connect(f->ctx, host, service, on_connect, on_prepare,
                             f, &f->guard);
    f->returned = true;
    return rc;
}

static char *port_str(unsigned port, char buf[8])
{
    snprintf(buf, 8, "%u", port);
    return buf;
}

static void test_connect_numeric_ipv4_reports_peer(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    assert_true(l >= 0);
    assert_int_equal(start(f, "127.0.0.1", port_str(port, p)), 0);
    assert_int_equal(f->calls, 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_false(f->early);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_int_equal(f->port, port);
    assert_int_equal(f->prepares, 1);
    close(l);
}

static void test_connect_refused_reports_econnrefused(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    close(l);   /* a port nobody listens on */
    assert_int_equal(start(f, "127.0.0.1", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_false(f->early);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->status, -ECONNREFUSED);
}

static void test_connect_unknown_name_reports_enxio(void **state)
{
    fx *f = *state;

    assert_int_equal(make_ctx(f, "127.0.0.1 nx.known.test\n", -1.), 0);
    assert_int_equal(start(f, "nx.unknown.test", "80"), 0);
    assert_true(nt_run_until(f->loop, &f->done, 10.));
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->status, -ENXIO);
    assert_int_equal(f->prepares, 0);
}

static void test_connect_bad_arguments_return_einval(void **state)
{
    fx *f = *state;

    assert_int_equal(anysock_tcp_connect(f->ctx, NULL, "80", on_connect,
                                         NULL, f, &f->guard), -EINVAL);
    assert_int_equal(anysock_tcp_connect(f->ctx, "127.0.0.1", "80", NULL,
                                         NULL, f, &f->guard), -EINVAL);
    assert_null(f->guard);
}

static void test_connect_tries_next_target_after_refusal(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    assert_true(l >= 0);
    /* 127.0.0.3 refuses: nothing listens there on this port */
    assert_int_equal(make_ctx(f, "127.0.0.3 nx.two.test\n"
                                 "127.0.0.1 nx.two.test\n", 0.), 0);
    assert_int_equal(start(f, "nx.two.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_int_equal(f->prepares, 2);
    close(l);
}

static void test_connect_all_refused_reports_last_error(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    close(l);
    assert_int_equal(make_ctx(f, "127.0.0.3 nx.two.test\n"
                                 "127.0.0.1 nx.two.test\n", -1.), 0);
    assert_int_equal(start(f, "nx.two.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->status, -ECONNREFUSED);
    assert_int_equal(f->prepares, 2);
}

static void test_connect_prepare_timeout_fails_attempt(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int hold[3];
    double t0;

    assert_int_equal(nt_blackhole("127.0.0.1", &port, hold), 0);
    f->timeout = 0.3;
    t0 = nt_now();
    assert_int_equal(start(f, "127.0.0.1", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, -ETIMEDOUT);
    assert_true(nt_now() - t0 >= 0.29);
    assert_true(nt_now() - t0 < 1.5);
    nt_close3(hold);
}

static void test_connect_happy_eyeballs_skips_blackhole(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int hold[3], l;
    double t0, took;

    /* 127.0.0.2:port drops SYNs, 127.0.0.1:port listens */
    assert_int_equal(nt_blackhole("127.0.0.2", &port, hold), 0);
    l = nt_listen(AF_INET, "127.0.0.1", &port, 8);
    assert_true(l >= 0);
    assert_int_equal(make_ctx(f, "127.0.0.2 nx.he.test\n"
                                 "127.0.0.1 nx.he.test\n", 0.25), 0);
    t0 = nt_now();
    assert_int_equal(start(f, "nx.he.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    took = nt_now() - t0;
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_true(took >= 0.24);
    assert_true(took < 1.0);
    close(l);
    nt_close3(hold);
}

static void test_connect_delay_zero_is_sequential(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int hold[3], l;
    double t0, took;

    assert_int_equal(nt_blackhole("127.0.0.2", &port, hold), 0);
    l = nt_listen(AF_INET, "127.0.0.1", &port, 8);
    assert_true(l >= 0);
    assert_int_equal(make_ctx(f, "127.0.0.2 nx.seq.test\n"
                                 "127.0.0.1 nx.seq.test\n", 0.), 0);
    f->timeout = 0.6;   /* 7.17: only the attempt's timeout moves on */
    t0 = nt_now();
    assert_int_equal(start(f, "nx.seq.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    took = nt_now() - t0;
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_true(took >= 0.59);
    close(l);
    nt_close3(hold);
}

static void test_connect_interleaves_families(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int hold[3], hold2[3], l;
    double t0, took;

    if (!nt_have_ipv6())
        SKIP("no ::1 here");
    /* two blackholed IPv4 targets, then IPv6: RFC 8305 order is
     * 127.0.0.2, ::1, 127.0.0.3 — one delay, not two */
    assert_int_equal(nt_blackhole("127.0.0.2", &port, hold), 0);
    assert_int_equal(nt_blackhole("127.0.0.3", &port, hold2), 0);
    l = nt_listen(AF_INET6, "::1", &port, 8);
    assert_true(l >= 0);
    assert_int_equal(make_ctx(f, "127.0.0.2 nx.mix.test\n"
                                 "127.0.0.3 nx.mix.test\n"
                                 "::1 nx.mix.test\n", 0.3), 0);
    t0 = nt_now();
    assert_int_equal(start(f, "nx.mix.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    took = nt_now() - t0;
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_true(took < 0.55);
    assert_int_equal(f->prepares, 2);
    close(l);
    nt_close3(hold);
    nt_close3(hold2);
}

static void test_connect_retry_tries_next_target(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "0.0.0.0", &port, 8);

    assert_true(l >= 0);
    assert_int_equal(make_ctx(f, "127.0.0.1 nx.both.test\n"
                                 "127.0.0.3 nx.both.test\n", -1.), 0);
    f->retry_in_connect = true;
    assert_int_equal(start(f, "nx.both.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    /* both connections rejected, then nothing left: nothing failed, so
     * -ECONNABORTED (it was -ENXIO, which means "no target") */
    assert_int_equal(f->calls, 3);
    assert_int_equal(f->nkeep, 2);
    assert_int_equal(f->status, -ECONNABORTED);
    close(l);
}

static void test_connect_retry_later_gives_second_target(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "0.0.0.0", &port, 8);

    assert_true(l >= 0);
    assert_int_equal(make_ctx(f, "127.0.0.1 nx.both.test\n"
                                 "127.0.0.3 nx.both.test\n", -1.), 0);
    assert_int_equal(start(f, "nx.both.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_string_equal(f->host, "127.0.0.1");
    f->done = false;
    assert_int_equal(anysock_tcp_connect_retry(f->guard), 0);
    assert_int_equal(anysock_tcp_connect_retry(f->guard), -EINVAL);
    assert_int_equal(f->calls, 1);   /* never from inside retry */
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.3");
    close(l);
}

static void test_connect_retry_before_success_is_einval(void **state)
{
    fx *f = *state;

    assert_int_equal(start(f, "127.0.0.1", "1"), 0);
    assert_int_equal(anysock_tcp_connect_retry(f->guard), -EINVAL);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
}

static int unix_listener(char path[108])
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    snprintf(path, 108, "/tmp/anysock-tc-%d-%ld.sock", (int)getpid(),
             (long)nt_count_fds());
    unlink(path);
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

static void test_connect_unix_path_callback_after_return(void **state)
{
    fx *f = *state;
    char path[108];
    int l = unix_listener(path);

    assert_int_equal(start(f, "unix/", path), 0);
    assert_int_equal(f->calls, 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_false(f->early);
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "unix/");
    assert_int_equal(f->port, 0);
    close(l);
    unlink(path);
}

static void test_connect_unix_missing_path_fails(void **state)
{
    fx *f = *state;

    assert_int_equal(start(f, "unix/", "/tmp/anysock-no-such.sock"), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, -ENOENT);
}

static void test_connect_cancel_while_resolving(void **state)
{
    fx *f = *state;

    assert_int_equal(make_ctx(f, "127.0.0.1 nx.x.test\n", -1.), 0);
    assert_int_equal(start(f, "nx.x.test", "1"), 0);
    anysock_guard_cancel(&f->guard);
    assert_null(f->guard);
    anysock_guard_cancel(&f->guard);   /* twice: a no-op */
    assert_true(nt_loop_idle(f->loop));
    assert_int_equal(f->calls, 0);
    assert_int_equal(f->prepares, 0);
}

static void cancel_timer_cb(struct ev_loop *loop, ev_timer *w, int r)
{
    fx *f = w->data;

    (void)loop;
    (void)r;
    f->fds_mid = nt_count_fds();
    anysock_guard_cancel(&f->guard);
    f->fds_after_cancel = nt_count_fds();
    f->done = true;
}

static void test_connect_cancel_mid_attempt_closes_socket(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int hold[3];
    ev_timer t;

    assert_int_equal(nt_blackhole("127.0.0.1", &port, hold), 0);
    assert_int_equal(start(f, "127.0.0.1", port_str(port, p)), 0);
    ev_timer_init(&t, cancel_timer_cb, 0.1, 0.);
    t.data = f;
    ev_timer_start(f->loop, &t);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->prepares, 1);
    assert_int_equal(f->calls, 0);
    /* the attempt's socket was open and is closed by the cancel */
    assert_int_equal(f->fds_after_cancel, f->fds_mid - 1);
    nt_close3(hold);
}

static void test_connect_cancel_between_attempts(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "0.0.0.0", &port, 8);

    assert_int_equal(make_ctx(f, "127.0.0.1 nx.both.test\n"
                                 "127.0.0.3 nx.both.test\n", -1.), 0);
    assert_int_equal(start(f, "nx.both.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(anysock_tcp_connect_retry(f->guard), 0);
    anysock_guard_cancel(&f->guard);   /* retry queued, nothing started */
    assert_true(nt_loop_idle(f->loop));
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->prepares, 1);
    close(l);
}

static void test_connect_cancel_inside_prepare(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    f->cancel_in_prepare = true;
    assert_int_equal(start(f, "127.0.0.1", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_true(nt_loop_idle(f->loop));
    assert_int_equal(f->calls, 0);
    close(l);
}

static void test_connect_cancel_inside_connect_cb(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    f->cancel_in_connect = true;
    assert_int_equal(start(f, "127.0.0.1", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_null(f->guard);
    assert_int_equal(f->calls, 1);
    assert_true(f->fd >= 0);   /* the fd stays the caller's */
    close(l);
}

static void test_connect_without_guard_frees_itself(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    assert_int_equal(anysock_tcp_connect(f->ctx, "127.0.0.1",
                                         port_str(port, p), on_connect, NULL,
                                         f, NULL), 0);
    f->returned = true;
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, 0);
    assert_true(nt_loop_idle(f->loop));
    close(l);
}

static void test_connect_ctx_free_cancels_pending(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int hold[3];

    assert_int_equal(nt_blackhole("127.0.0.1", &port, hold), 0);
    assert_int_equal(start(f, "127.0.0.1", port_str(port, p)), 0);
    assert_int_equal(anysock_tcp_connect(f->ctx, "localhost",
                                         port_str(port, p), on_connect, NULL,
                                         f, NULL), 0);
    ev_run(f->loop, EVRUN_NOWAIT);
    anysock_ctx_free(f->ctx);
    f->ctx = NULL;
    f->guard = NULL;   /* invalid now, per the contract */
    assert_int_equal(make_ctx(f, NULL, -1.), 0);
    assert_int_equal(f->calls, 0);
    nt_close3(hold);
}

/* Issue 12 defect: retry with no target left reports the last attempt's
 * error, not -ENXIO (reserved for "resolution gave no target"). */
static void test_connect_retry_nothing_left_reports_last_error(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    assert_true(l >= 0);
    /* 127.0.0.4 refuses, 127.0.0.1 accepts */
    assert_int_equal(make_ctx(f, "127.0.0.4 nx.rl.test\n"
                                 "127.0.0.1 nx.rl.test\n", -1.), 0);
    assert_int_equal(start(f, "nx.rl.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    f->done = false;
    assert_int_equal(anysock_tcp_connect_retry(f->guard), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->status, -ECONNREFUSED);
    close(l);
}

/* Issue 12 defect: the 64-target cap came before the interleaving, so 64
 * refused A records hid the AAAA one that listens. */
static void test_connect_cap_after_interleave(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8], *hosts = malloc(70 * 32), *q = hosts;
    int l;

    if (!nt_have_ipv6())
        SKIP("no ::1 here");
    l = nt_listen(AF_INET6, "::1", &port, 8);
    assert_true(l >= 0);
    for (int i = 1; i <= 65; i++)
        q += sprintf(q, "127.0.1.%d nx.many.test\n", i);
    sprintf(q, "::1 nx.many.test\n");
    assert_int_equal(make_ctx(f, hosts, 0.2), 0);
    free(hosts);
    assert_int_equal(start(f, "nx.many.test", port_str(port, p)), 0);
    assert_true(nt_run_until(f->loop, &f->done, 10.));
    /* before: -ECONNREFUSED after 64 refused attempts. Which attempt
     * reaches ::1 depends on how many A attempts fail before the AAAA
     * answer streams in (second when both are there: test_he_core) */
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_true(f->prepares >= 2 && f->prepares <= 65);
    close(l);
}

static void on_connect_report(void *data, int status, int fd,
                              const char *host, unsigned port);

static anysock_attempt rep[16];
static size_t nrep;

/* Issue 12 defect: an attempt whose socket cannot be made (here a source
 * address of the other family: -EAFNOSUPPORT) starts the next at once,
 * not after the attempt delay. */
static void test_connect_socket_failure_starts_next_at_once(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8), rc;
    double t0;

    assert_true(l >= 0);
    assert_int_equal(make_ctx(f, "::1 nx.sf.test\n"
                                 "127.0.0.1 nx.sf.test\n", -1.), 0);
    anysock_connect_opts_init(&o);
    o.protocols = "ipv6,ipv4";
    o.attempt_delay = 2.0;
    o.bind_addr = "127.0.0.1";
    t0 = nt_now();
    rc = anysock_tcp_connect_ex(f->ctx, "nx.sf.test", port_str(port, p), &o,
                                on_connect_report, on_prepare, f,
                                &f->guard);
    f->returned = true;
    assert_int_equal(rc, 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "127.0.0.1");
    assert_true(nt_now() - t0 < 1.0);
    assert_true(nrep >= 2);
    assert_int_equal(rep[0].family, AF_INET6);
    assert_int_equal(rep[0].status, -EAFNOSUPPORT);
    assert_int_equal(rep[0].phase, ANYSOCK_PHASE_SOCKET);
    assert_int_equal(rep[nrep - 1].phase, ANYSOCK_PHASE_WON);
    close(l);
}

static void on_connect_report(void *data, int status, int fd,
                              const char *host, unsigned port)
{
    fx *f = data;

    nrep = anysock_connect_report(f->guard, rep, 16);
    on_connect(data, status, fd, host, port);
}

/* A failed call reports every attempt: address, port, error, phase. */
static void test_connect_report_lists_every_attempt(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    char p[8], h[ANYSOCK_ADDRESS_STRLEN];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8), rc;

    close(l);
    assert_int_equal(make_ctx(f, "127.0.0.3 nx.two.test\n"
                                 "127.0.0.1 nx.two.test\n", -1.), 0);
    rc = anysock_tcp_connect_ex(f->ctx, "nx.two.test", port_str(port, p),
                                NULL, on_connect_report, on_prepare, f,
                                &f->guard);
    f->returned = true;
    assert_int_equal(rc, 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, -ECONNREFUSED);
    /* the two attempts, and the AAAA lookup that found nothing */
    assert_int_equal(nrep, 3);
    assert_int_equal(anysock_connect_report(f->guard, NULL, 0), 3);
    for (size_t i = 0; i < nrep; i++) {
        if (rep[i].family == AF_INET6) {
            assert_int_equal(rep[i].phase, ANYSOCK_PHASE_RESOLVE);
            assert_int_equal(rep[i].status, -ENXIO);
            assert_int_equal(rep[i].addr.family, 0);
            memmove(&rep[i], &rep[i + 1], (nrep - i - 1) * sizeof *rep);
            nrep--;
            i--;
        }
    }
    assert_int_equal(nrep, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(rep[i].family, AF_INET);
        assert_int_equal(rep[i].port, port);
        assert_int_equal(rep[i].status, -ECONNREFUSED);
        assert_int_equal(rep[i].phase, ANYSOCK_PHASE_CONNECT);
        assert_true(rep[i].started >= 0. && rep[i].duration >= 0.);
    }
    anysock_format_address(&rep[0].addr, h, sizeof h);
    assert_string_equal(h, "127.0.0.3");
    anysock_format_address(&rep[1].addr, h, sizeof h);
    assert_string_equal(h, "127.0.0.1");
}

/* The options' ABI: `size` says which fields the caller has; bad values
 * are -EINVAL from the start call, with no callback. */
static void test_connect_ex_options_checked(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    struct {
        size_t size;
        double deadline;
    } old = { sizeof old, 0. };
    unsigned port = 0;
    char p[8];
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 8);

    anysock_connect_opts_init(&o);
    o.size = 0;
    assert_int_equal(anysock_tcp_connect_ex(f->ctx, "127.0.0.1", "80", &o,
                                            on_connect, NULL, f, &f->guard),
                     -EINVAL);
    anysock_connect_opts_init(&o);
    o.family = 5;
    assert_int_equal(anysock_tcp_connect_ex(f->ctx, "127.0.0.1", "80", &o,
                                            on_connect, NULL, f, &f->guard),
                     -EINVAL);
    anysock_connect_opts_init(&o);
    o.deadline = 0. / 0.;
    assert_int_equal(anysock_tcp_connect_ex(f->ctx, "127.0.0.1", "80", &o,
                                            on_connect, NULL, f, &f->guard),
                     -EINVAL);
    anysock_connect_opts_init(&o);
    o.protocols = "ipv5";
    assert_int_equal(anysock_tcp_connect_ex(f->ctx, "127.0.0.1", "80", &o,
                                            on_connect, NULL, f, &f->guard),
                     -EINVAL);
    assert_null(f->guard);
    /* a caller built against a header with only `deadline`: the fields
     * after it are not read (they hold garbage here), defaults apply */
    assert_int_equal(anysock_tcp_connect_ex(
                         f->ctx, "127.0.0.1", port_str(port, p),
                         (const anysock_connect_opts *)(const void *)&old,
                         on_connect, NULL, f, &f->guard),
                     0);
    f->returned = true;
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, 0);
    close(l);
}

/* The per-call family filter: -6 on a name with both families. */
static void test_connect_ex_family_filter(void **state)
{
    fx *f = *state;
    anysock_connect_opts o;
    unsigned port = 0;
    char p[8];
    int l4, l6, rc;

    if (!nt_have_ipv6())
        SKIP("no ::1 here");
    l6 = nt_listen(AF_INET6, "::1", &port, 8);
    l4 = nt_listen(AF_INET, "127.0.0.1", &port, 8);
    assert_int_equal(make_ctx(f, "127.0.0.1 nx.ff.test\n"
                                 "::1 nx.ff.test\n", -1.), 0);
    anysock_connect_opts_init(&o);
    o.family = 6;
    rc = anysock_tcp_connect_ex(f->ctx, "nx.ff.test", port_str(port, p), &o,
                                on_connect, on_prepare, f, &f->guard);
    f->returned = true;
    assert_int_equal(rc, 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->status, 0);
    assert_string_equal(f->host, "::1");
    assert_int_equal(f->prepares, 1);
    close(l4);
    close(l6);
}

static void test_tcp_nodelay_and_congestion(void **state)
{
    fx *f = *state;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int v = 0;
    socklen_t len = sizeof v;

    (void)f;
    assert_int_equal(anysock_tcp_nodelay(s, 1), 0);
    getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len);
    assert_int_equal(v, 1);
    assert_int_equal(anysock_tcp_nodelay(s, 0), 0);
    assert_int_equal(anysock_tcp_congestion(s, "reno"), 0);
    assert_int_equal(anysock_tcp_congestion(s, "no-such-algo"), -ENOENT);
    assert_int_equal(anysock_tcp_nodelay(-1, 1), -EBADF);
    close(s);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_connect_numeric_ipv4_reports_peer),
        T(test_connect_refused_reports_econnrefused),
        T(test_connect_unknown_name_reports_enxio),
        T(test_connect_bad_arguments_return_einval),
        T(test_connect_tries_next_target_after_refusal),
        T(test_connect_all_refused_reports_last_error),
        T(test_connect_prepare_timeout_fails_attempt),
        T(test_connect_happy_eyeballs_skips_blackhole),
        T(test_connect_delay_zero_is_sequential),
        T(test_connect_interleaves_families),
        T(test_connect_retry_tries_next_target),
        T(test_connect_retry_later_gives_second_target),
        T(test_connect_retry_before_success_is_einval),
        T(test_connect_unix_path_callback_after_return),
        T(test_connect_unix_missing_path_fails),
        T(test_connect_cancel_while_resolving),
        T(test_connect_cancel_mid_attempt_closes_socket),
        T(test_connect_cancel_between_attempts),
        T(test_connect_cancel_inside_prepare),
        T(test_connect_cancel_inside_connect_cb),
        T(test_connect_without_guard_frees_itself),
        T(test_connect_ctx_free_cancels_pending),
        T(test_connect_retry_nothing_left_reports_last_error),
        T(test_connect_cap_after_interleave),
        T(test_connect_socket_failure_starts_next_at_once),
        T(test_connect_report_lists_every_attempt),
        T(test_connect_ex_options_checked),
        T(test_connect_ex_family_filter),
        T(test_tcp_nodelay_and_congestion),
    };

    return cmocka_run_group_tests(tests, fakedns_group_setup,
                                  fakedns_group_teardown);
}
