/* tcp_server and tcp_bind: addresses and services, synchronous errors
 * that leave nothing behind, unix socket file safety, cancellation,
 * EMFILE survival and SO_REUSEPORT across threads. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "internal.h"
#include "harness/nettest.h"

typedef struct fx {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    anysock_guard *guard;
    int fds_before;
    int accepts, errors;
    int accepted[64];
    char peer[ANYSOCK_ADDRESS_STRLEN];
    unsigned peer_port;
    char bound_host[ANYSOCK_ADDRESS_STRLEN];
    unsigned bound_port;
    int backlog;
    bool cancel_in_accept;
    bool done;
    char path[108];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    f->fds_before = nt_count_fds();
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(anysock_ctx_new(f->loop, NULL, &f->ctx), 0);
    snprintf(f->path, sizeof f->path, "/tmp/anysock-ts-%d.sock",
             (int)getpid());
    unlink(f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    anysock_guard_cancel(&f->guard);
    for (int i = 0; i < f->accepts && i < 64; i++)
        close(f->accepted[i]);
    assert_true(nt_loop_idle(f->loop));
    anysock_ctx_free(f->ctx);
    ev_loop_destroy(f->loop);
    unlink(f->path);
    assert_int_equal(nt_count_fds(), f->fds_before);
    free(f);
    return 0;
}

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    fx *f = data;

    if (status < 0) {
        f->errors++;
        assert_int_equal(fd, -1);
        return;
    }
    assert_true(nt_fd_flags_ok(fd));
    if (f->accepts < 64)
        f->accepted[f->accepts] = fd;
    else
        close(fd);
    f->accepts++;
    snprintf(f->peer, sizeof f->peer, "%s", host);
    f->peer_port = port;
    if (f->cancel_in_accept)
        anysock_guard_cancel(&f->guard);
    f->done = true;
}

static int on_prepare(void *data, int fd, const char *host, unsigned port)
{
    fx *f = data;

    assert_true(fd >= 0);
    snprintf(f->bound_host, sizeof f->bound_host, "%s", host);
    f->bound_port = port;
    return f->backlog;
}

static unsigned local_port(int fd)
{
    anysock_sockaddr sa;
    anysock_addr a;
    uint16_t port = 0;

    sa.len = sizeof sa.u;
    getsockname(fd, &sa.u.sa, &sa.len);
    anysock_unpack_sockaddr(&sa.u.sa, sa.len, &a, &port, NULL, NULL);
    return port;
}

static void test_server_ephemeral_port_and_peer(void **state)
{
    fx *f = *state;
    int c;

    assert_int_equal(anysock_tcp_server(f->ctx, "127.0.0.1", NULL, on_accept,
                                        on_prepare, f, &f->guard), 0);
    assert_string_equal(f->bound_host, "127.0.0.1");
    assert_true(f->bound_port > 0);
    c = nt_connect("127.0.0.1", f->bound_port);   /* listening already */
    assert_true(c >= 0);
    assert_int_equal(f->accepts, 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->accepts, 1);
    assert_string_equal(f->peer, "127.0.0.1");
    assert_int_equal(f->peer_port, local_port(c));
    close(c);
}

static void test_server_port_zero_string_is_ephemeral(void **state)
{
    fx *f = *state;

    assert_int_equal(anysock_tcp_server(f->ctx, "127.0.0.1", "0", on_accept,
                                        on_prepare, f, &f->guard), 0);
    assert_true(f->bound_port > 0);
}

static void test_server_null_host_is_dual_stack(void **state)
{
    fx *f = *state;
    int c4, c6;

    if (!nt_have_ipv6())
        SKIP("no IPv6 here: the server binds 0.0.0.0 instead");
    assert_int_equal(anysock_tcp_server(f->ctx, NULL, NULL, on_accept,
                                        on_prepare, f, &f->guard), 0);
    assert_string_equal(f->bound_host, "::");
    c4 = nt_connect("127.0.0.1", f->bound_port);
    c6 = nt_connect("::1", f->bound_port);
    assert_true(c4 >= 0);
    assert_true(c6 >= 0);
    while (f->accepts < 2) {
        f->done = false;
        assert_true(nt_run_until(f->loop, &f->done, 5.));
    }
    close(c4);
    close(c6);
}

static void test_server_service_name(void **state)
{
    fx *f = *state;
    struct servent *se = getservbyname("tcpmux", "tcp");
    int rc;

    if (se == NULL)
        SKIP("no /etc/services entry for tcpmux");
    rc = anysock_tcp_server(f->ctx, "127.0.0.1", "tcpmux", on_accept,
                            on_prepare, f, &f->guard);
    if (rc == -EACCES || rc == -EADDRINUSE)
        SKIP("port 1 needs root and must be free");
    assert_int_equal(rc, 0);
    assert_int_equal(f->bound_port, ntohs((uint16_t)se->s_port));
}

static void test_server_unknown_service_is_eservice(void **state)
{
    fx *f = *state;

    assert_int_equal(anysock_tcp_server(f->ctx, "127.0.0.1", "no-such-svc",
                                        on_accept, NULL, f, &f->guard),
                     ANYSOCK_ESERVICE);
    assert_int_equal(anysock_tcp_server(f->ctx, "127.0.0.1", "65536",
                                        on_accept, NULL, f, &f->guard),
                     ANYSOCK_ESERVICE);
    assert_null(f->guard);
}

static void test_server_bad_host_is_einval(void **state)
{
    fx *f = *state;

    assert_int_equal(anysock_tcp_server(f->ctx, "localhost", "0", on_accept,
                                        NULL, f, &f->guard), -EINVAL);
    assert_null(f->guard);
}

static void test_server_port_in_use_leaves_nothing(void **state)
{
    fx *f = *state;
    unsigned port = 0;
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 1);
    int fds = nt_count_fds();
    char p[8];

    snprintf(p, sizeof p, "%u", port);
    assert_int_equal(anysock_tcp_server(f->ctx, "127.0.0.1", p, on_accept,
                                        NULL, f, &f->guard), -EADDRINUSE);
    assert_null(f->guard);
    assert_int_equal(nt_count_fds(), fds);
    close(l);
}

static void test_server_prepare_sees_ipv6_address(void **state)
{
    fx *f = *state;

    if (!nt_have_ipv6())
        SKIP("no ::1 here");
    f->backlog = 3;
    assert_int_equal(anysock_tcp_server(f->ctx, "::1", NULL, on_accept,
                                        on_prepare, f, &f->guard), 0);
    assert_string_equal(f->bound_host, "::1");
    assert_true(f->bound_port > 0);
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        close(fd);
        return -errno;
    }
    return fd;
}

static void test_server_unix_accepts_and_cancel_removes_file(void **state)
{
    fx *f = *state;
    struct stat st;
    int c;

    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        on_prepare, f, &f->guard), 0);
    assert_string_equal(f->bound_host, "unix/");
    assert_int_equal(f->bound_port, 0);
    c = unix_connect(f->path);
    assert_true(c >= 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_string_equal(f->peer, "unix/");
    assert_int_equal(f->peer_port, 0);
    anysock_guard_cancel(&f->guard);
    assert_int_equal(lstat(f->path, &st), -1);
    close(c);
}

static void test_server_unix_replaces_stale_socket(void **state)
{
    fx *f = *state;
    anysock_guard *g1 = NULL;
    int fd;

    /* a socket file left behind by a dead server */
    assert_int_equal(anysock_tcp_bind(f->ctx, "unix/", f->path, NULL, NULL,
                                      &fd, &g1), 0);
    close(fd);
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, &f->guard), 0);
    anysock_guard_cancel(&g1);   /* not ours any more: stays */
    fd = unix_connect(f->path);
    assert_true(fd >= 0);
    close(fd);
}

static void test_server_unix_regular_file_is_untouched(void **state)
{
    fx *f = *state;
    struct stat st;
    char buf[16] = {0};
    int fd = open(f->path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    int fds;

    assert_int_equal(write(fd, "precious", 8), 8);
    close(fd);
    fds = nt_count_fds();
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, &f->guard),
                     ANYSOCK_ENOTSOCK);
    assert_null(f->guard);
    assert_int_equal(nt_count_fds(), fds);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    fd = open(f->path, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof buf), 8);
    assert_string_equal(buf, "precious");
    close(fd);
}

static void test_server_unix_symlink_and_dir_are_untouched(void **state)
{
    fx *f = *state;
    struct stat st;

    assert_int_equal(symlink("/nonexistent-target", f->path), 0);
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, NULL), ANYSOCK_ENOTSOCK);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    unlink(f->path);
    assert_int_equal(mkdir(f->path, 0700), 0);
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, NULL), ANYSOCK_ENOTSOCK);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    rmdir(f->path);
}

static void test_server_unix_cancel_keeps_replaced_file(void **state)
{
    fx *f = *state;
    struct stat st;
    int fd;

    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, &f->guard), 0);
    /* someone else takes the path over */
    unlink(f->path);
    fd = open(f->path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    anysock_guard_cancel(&f->guard);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static void test_server_unix_path_too_long(void **state)
{
    fx *f = *state;
    char path[200];

    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", path, on_accept,
                                        NULL, f, &f->guard), -ENAMETOOLONG);
}

static void test_server_cancel_inside_accept_stops(void **state)
{
    fx *f = *state;
    int c1, c2, after;

    f->cancel_in_accept = true;
    assert_int_equal(anysock_tcp_server(f->ctx, "127.0.0.1", NULL, on_accept,
                                        on_prepare, f, &f->guard), 0);
    c1 = nt_connect("127.0.0.1", f->bound_port);
    c2 = nt_connect("127.0.0.1", f->bound_port);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    /* both were pending; the cancel in the first callback stops the loop */
    assert_int_equal(f->accepts, 1);
    assert_null(f->guard);
    assert_true(nt_loop_idle(f->loop));
    /* the accepted fd stays open and usable */
    assert_int_equal(write(f->accepted[0], "x", 1), 1);
    after = nt_connect("127.0.0.1", f->bound_port);
    assert_int_equal(after, -ECONNREFUSED);
    close(c1);
    close(c2);
}

static void test_bind_hands_listening_fd(void **state)
{
    fx *f = *state;
    int fd = -1, c, a;
    struct stat st;

    assert_int_equal(anysock_tcp_bind(f->ctx, "127.0.0.1", NULL, on_prepare,
                                      f, &fd, &f->guard), 0);
    assert_true(nt_fd_flags_ok(fd));
    c = nt_connect("127.0.0.1", f->bound_port);
    assert_true(c >= 0);
    a = accept(fd, NULL, NULL);   /* the handshake is done: no wait */
    assert_true(a >= 0);
    anysock_guard_cancel(&f->guard);
    /* the guard does not own the fd */
    assert_true(fcntl(fd, F_GETFD) >= 0);
    close(a);
    close(c);
    close(fd);

    assert_int_equal(anysock_tcp_bind(f->ctx, "unix/", f->path, NULL, NULL,
                                      &fd, &f->guard), 0);
    close(fd);
    assert_int_equal(lstat(f->path, &st), 0);
    anysock_guard_cancel(&f->guard);
    assert_int_equal(lstat(f->path, &st), -1);
}

/* ---- SO_REUSEPORT: two threads, each with its own loop and server ---- */

typedef struct rp_thread {
    unsigned port;         /* in: 0 for the first server */
    int rc;
    int accepts;
    int stop_fd;           /* read end: a byte means stop */
    pthread_barrier_t *ready;
} rp_thread;

static void rp_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    rp_thread *t = data;

    (void)host;
    (void)port;
    if (status == 0) {
        t->accepts++;
        close(fd);
    }
}

static int rp_prepare(void *data, int fd, const char *host, unsigned port)
{
    rp_thread *t = data;

    (void)fd;
    (void)host;
    t->port = port;
    return 0;
}

static void rp_stop_cb(struct ev_loop *loop, ev_io *w, int r)
{
    (void)w;
    (void)r;
    ev_break(loop, EVBREAK_ALL);
}

static void *rp_main(void *arg)
{
    rp_thread *t = arg;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    anysock_config cfg;
    anysock_ctx *ctx = NULL;
    anysock_guard *g = NULL;
    char p[8];
    ev_io stop;

    anysock_config_init(&cfg);
    cfg.server_flags = ANYSOCK_SERVER_REUSEPORT;
    t->rc = anysock_ctx_new(loop, &cfg, &ctx);
    snprintf(p, sizeof p, "%u", t->port);
    if (t->rc == 0)
        t->rc = anysock_tcp_server(ctx, "127.0.0.1", p, rp_accept,
                                   rp_prepare, t, &g);
    pthread_barrier_wait(t->ready);
    if (t->rc == 0) {
        ev_io_init(&stop, rp_stop_cb, t->stop_fd, EV_READ);
        ev_io_start(loop, &stop);
        ev_run(loop, 0);
        ev_io_stop(loop, &stop);
    }
    anysock_guard_cancel(&g);
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    return NULL;
}

static void test_server_reuseport_two_threads_share_port(void **state)
{
    fx *f = *state;
    pthread_barrier_t ready;
    rp_thread t[2];
    pthread_t th[2];
    int stop[2], i, n = 64;

    (void)f;
    assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
    pthread_barrier_init(&ready, NULL, 2);
    memset(t, 0, sizeof t);
    for (i = 0; i < 2; i++) {
        t[i].stop_fd = stop[0];
        t[i].ready = &ready;
    }
    /* the first server picks the port, the second joins it */
    pthread_create(&th[0], NULL, rp_main, &t[0]);
    pthread_barrier_wait(&ready);
    assert_int_equal(t[0].rc, 0);
    t[1].port = t[0].port;
    pthread_create(&th[1], NULL, rp_main, &t[1]);
    pthread_barrier_wait(&ready);
    assert_int_equal(t[1].rc, 0);
    assert_int_equal(t[1].port, t[0].port);
    /* the kernel spreads connections over both by their 4-tuple */
    for (i = 0; i < n; i++) {
        int c = nt_connect("127.0.0.1", t[0].port);
        char b;

        assert_true(c >= 0);
        assert_int_equal(read(c, &b, 1), 0);   /* closed by a server */
        close(c);
    }
    assert_int_equal(write(stop[1], "xx", 2), 2);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    pthread_barrier_destroy(&ready);
    close(stop[0]);
    close(stop[1]);
    assert_int_equal(t[0].accepts + t[1].accepts, n);
    assert_true(t[0].accepts > 0);
    assert_true(t[1].accepts > 0);
}

/* ---- EMFILE: a child under a low fd limit ---- */

typedef struct em {
    struct ev_loop *loop;
    int held[64];
    int nheld;
    int emfile;
    int served;
    bool holding;
} em;

static void em_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    em *e = data;

    (void)host;
    (void)port;
    if (status == -EMFILE || status == -ENFILE) {
        e->emfile++;
        return;
    }
    if (status < 0)
        return;
    if (e->holding && e->nheld < 64) {
        e->held[e->nheld++] = fd;   /* keep it: fds run out */
        return;
    }
    if (write(fd, "ok", 2) == 2)   /* an empty socket buffer takes it */
        e->served++;
    close(fd);
    ev_break(e->loop, EVBREAK_ALL);
}

static void em_tick(struct ev_loop *loop, ev_timer *w, int r)
{
    (void)w;
    (void)r;
    ev_break(loop, EVBREAK_ALL);
}

static int em_prepare(void *data, int fd, const char *host, unsigned port)
{
    (void)fd;
    (void)host;
    *(unsigned *)data = port;
    return 0;
}

/* Child: exit codes name the failed check. */
static int emfile_child(int ctl_r, int ctl_w)
{
    struct rlimit rl;
    em e = {0};
    anysock_ctx *ctx = NULL;
    anysock_guard *g = NULL;
    anysock_guard *probe = NULL;
    unsigned port = 0;
    char b, p[8];
    double cpu0;
    ev_timer tick;
    int fd, rc = 0;

    e.loop = ev_loop_new(EVFLAG_AUTO);
    e.holding = true;
    ev_timer_init(&tick, em_tick, 1.0, 0.);
    if (anysock_ctx_new(e.loop, NULL, &ctx) < 0)
        { rc = 10; goto out; }
    /* learn a free port first: prepare_cb gets the server's data, which
     * must be the em state */
    if (anysock_tcp_bind(ctx, "127.0.0.1", NULL, em_prepare, &port, &fd,
                         &probe) < 0)
        { rc = 11; goto out; }
    close(fd);
    anysock_guard_cancel(&probe);
    snprintf(p, sizeof p, "%u", port);
    if (anysock_tcp_server(ctx, "127.0.0.1", p, em_accept, NULL, &e, &g) < 0)
        { rc = 12; goto out; }
    /* the soft limit only: valgrind refuses any change to the hard one */
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        { rc = 13; goto out; }
    rl.rlim_cur = 24;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        { rc = 13; goto out; }
    if (write(ctl_w, &port, sizeof port) != sizeof port)
        { rc = 14; goto out; }
    /* the parent queues a burst of connections, then writes 'b' */
    if (read(ctl_r, &b, 1) != 1 || b != 'b')
        { rc = 19; goto out; }
    ev_timer_start(e.loop, &tick);
    cpu0 = nt_cpu_seconds();
    ev_run(e.loop, 0);   /* one second with fds exhausted */
    if (e.emfile == 0)
        { rc = 15; goto out; }
    if (nt_cpu_seconds() - cpu0 > 0.3)
        { rc = 16; goto out; }   /* spinning */
    /* free the fds; the server must serve again */
    for (int i = 0; i < e.nheld; i++)
        close(e.held[i]);
    e.nheld = 0;
    e.holding = false;
    b = 'r';
    if (write(ctl_w, &b, 1) != 1)
        { rc = 17; goto out; }
    ev_timer_stop(e.loop, &tick);
    ev_timer_set(&tick, 5.0, 0.);
    ev_timer_start(e.loop, &tick);
    ev_run(e.loop, 0);
    if (e.served != 1)
        { rc = 18; goto out; }
out:
    ev_timer_stop(e.loop, &tick);
    for (int i = 0; i < e.nheld; i++)
        close(e.held[i]);
    anysock_guard_cancel(&g);
    anysock_ctx_free(ctx);
    ev_loop_destroy(e.loop);
    return rc;
}

static void test_server_survives_emfile_without_spinning(void **state)
{
    nt_child ch;
    int i, c[40];
    char b, buf[2];

    (void)state;
    if (nt_child_start(&ch, emfile_child) < 0) {
        if (ch.status == 13)
            SKIP("setrlimit refused (e.g. under valgrind)");
        fail_msg("EMFILE child failed early, exit %d", ch.status);
    }
    for (i = 0; i < 40; i++) {
        c[i] = nt_connect("127.0.0.1", ch.port);
        assert_true(c[i] >= 0);
    }
    b = 'b';
    assert_int_equal(write(ch.to_child, &b, 1), 1);
    assert_int_equal(read(ch.from_child, &b, 1), 1);
    assert_int_equal(b, 'r');
    for (i = 0; i < 40; i++)
        close(c[i]);
    i = nt_connect("127.0.0.1", ch.port);
    assert_true(i >= 0);
    assert_int_equal(read(i, buf, 2), 2);
    assert_memory_equal(buf, "ok", 2);
    close(i);
    assert_int_equal(nt_child_end(&ch), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_server_ephemeral_port_and_peer),
        T(test_server_port_zero_string_is_ephemeral),
        T(test_server_null_host_is_dual_stack),
        T(test_server_service_name),
        T(test_server_unknown_service_is_eservice),
        T(test_server_bad_host_is_einval),
        T(test_server_port_in_use_leaves_nothing),
        T(test_server_prepare_sees_ipv6_address),
        T(test_server_unix_accepts_and_cancel_removes_file),
        T(test_server_unix_replaces_stale_socket),
        T(test_server_unix_regular_file_is_untouched),
        T(test_server_unix_symlink_and_dir_are_untouched),
        T(test_server_unix_cancel_keeps_replaced_file),
        T(test_server_unix_path_too_long),
        T(test_server_cancel_inside_accept_stops),
        T(test_bind_hands_listening_fd),
        T(test_server_reuseport_two_threads_share_port),
        T(test_server_survives_emfile_without_spinning),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
