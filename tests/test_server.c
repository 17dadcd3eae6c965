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
#include <dirent.h>
#include <netinet/tcp.h>

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


/* ---- issue 15.1: anysock_ctx_free from inside a listen prepare_cb ----- */

typedef struct freer {
    anysock_ctx *ctx;
    int calls;
} freer;

static int free_ctx_prepare(void *data, int fd, const char *host,
                            unsigned port)
{
    freer *fr = data;

    (void)fd;
    (void)host;
    (void)port;
    fr->calls++;
    anysock_ctx_free(fr->ctx);
    fr->ctx = NULL;
    return 0;
}

static void test_server_ctx_free_in_prepare_is_ecanceled(void **state)
{
    fx *f = *state;
    const char *hosts[] = {"127.0.0.1", "::1", NULL, "unix/", "unix/"};
    char abs[64];
    struct stat st;

    snprintf(abs, sizeof abs, "@anysock-ts-free-%d", (int)getpid());
    for (int bind_too = 0; bind_too < 2; bind_too++) {
        for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
            struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
            freer fr = {NULL, 0};
            anysock_guard *g = NULL;
            int fd = -7, rc, fds = nt_count_fds();
            const char *svc = hosts[i] == NULL || hosts[i][0] != 'u' ? "0"
                              : i == 3 ? f->path : abs;

            assert_int_equal(anysock_ctx_new(loop, NULL, &fr.ctx), 0);
            fds = nt_count_fds();
            rc = bind_too ? anysock_tcp_bind(fr.ctx, hosts[i], svc,
                                             free_ctx_prepare, &fr, &fd, &g)
                          : anysock_tcp_server(fr.ctx, hosts[i], svc,
                                               on_accept, free_ctx_prepare,
                                               &fr, &g);
            assert_int_equal(fr.calls, 1);
            assert_int_equal(rc, -ECANCELED);
            assert_null(g);
            assert_int_equal(fd, -7);
            /* the ctx's own fds went with it; ours (the listener) too */
            assert_true(nt_count_fds() <= fds);
            assert_true(lstat(f->path, &st) < 0 && errno == ENOENT);
            assert_true(nt_loop_idle(loop));
            ev_loop_destroy(loop);
        }
    }
}

/* ---- review findings: V6ONLY from the preference, live unix paths ----- */

static int v6only_of(int fd)
{
    int v = -1;
    socklen_t len = sizeof v;

    assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len),
                     0);
    return v;
}

static int v6only_prepare(void *data, int fd, const char *host,
                          unsigned port)
{
    fx *f = data;

    (void)host;
    f->bound_port = port;
    f->backlog = v6only_of(fd);   /* reused as the result slot */
    return 0;
}

static void test_server_ipv6_only_preference_sets_v6only(void **state)
{
    fx *f = *state;
    anysock_config cfg;
    anysock_ctx *ctx6;
    anysock_guard *g = NULL;
    int c;

    anysock_config_init(&cfg);
    cfg.protocols = "ipv6";
    assert_int_equal(anysock_ctx_new(f->loop, &cfg, &ctx6), 0);
    assert_int_equal(anysock_tcp_server(ctx6, NULL, "0", on_accept,
                                        v6only_prepare, f, &g), 0);
    assert_int_equal(f->backlog, 1);
    /* IPv4 must not reach it: 7.17-style dual-stack would accept this */
    assert_int_equal(nt_connect("127.0.0.1", f->bound_port),
                     -ECONNREFUSED);
    c = nt_connect("::1", f->bound_port);
    assert_true(c >= 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    close(c);
    anysock_guard_cancel(&g);
    anysock_ctx_free(ctx6);
}

static void test_server_v6only_flag_and_explicit_dual_stack(void **state)
{
    fx *f = *state;
    anysock_server_opts so;
    anysock_guard *g = NULL;

    anysock_server_opts_init(&so);
    so.flags = ANYSOCK_LISTEN_V6ONLY;
    assert_int_equal(anysock_tcp_server_ex(f->ctx, "::", "0", &so,
                                           on_accept, v6only_prepare, f,
                                           &g), 0);
    assert_int_equal(f->backlog, 1);
    assert_int_equal(nt_connect("127.0.0.1", f->bound_port),
                     -ECONNREFUSED);
    anysock_guard_cancel(&g);
    /* without the flag "::" is dual-stack whatever bindv6only says */
    so.flags = 0;
    assert_int_equal(anysock_tcp_server_ex(f->ctx, "::", "0", &so,
                                           on_accept, v6only_prepare, f,
                                           &g), 0);
    assert_int_equal(f->backlog, 0);
    anysock_guard_cancel(&g);
    /* the default ctx's NULL host stays dual-stack */
    assert_int_equal(anysock_tcp_server(f->ctx, NULL, "0", on_accept,
                                        v6only_prepare, f, &f->guard), 0);
    assert_int_equal(f->backlog, 0);
}

static void test_server_live_unix_path_is_eaddrinuse(void **state)
{
    fx *f = *state;
    anysock_guard *g = NULL;
    struct stat st0, st;
    struct sockaddr_un sun;
    int fd = -7, c, d;

    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, &f->guard), 0);
    assert_int_equal(lstat(f->path, &st0), 0);
    /* a second server must not steal the path of a running one */
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, &g), -EADDRINUSE);
    assert_null(g);
    assert_int_equal(anysock_tcp_bind(f->ctx, "unix/", f->path, NULL, NULL,
                                      &fd, &g), -EADDRINUSE);
    assert_int_equal(fd, -7);
    assert_null(g);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(st.st_ino == st0.st_ino);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->path);
    c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&sun, sizeof sun), 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    close(c);
    anysock_guard_cancel(&f->guard);
    assert_true(lstat(f->path, &st) < 0);
    /* a live datagram socket on the path is somebody's too */
    d = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(d, (struct sockaddr *)&sun, sizeof sun), 0);
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, &g), -EADDRINUSE);
    close(d);
    /* now stale: replaced */
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", f->path, on_accept,
                                        NULL, f, &f->guard), 0);
}

/* ---- the accept budget: a connect flood does not starve timers ------- */

typedef struct flood {
    fx *f;
    unsigned port;
    int stop;               /* atomic */
    long sent;
    int per_iter, max_per_iter;
    double last_tick, max_gap;
    int ticks;
} flood;

static void *flood_thread(void *arg)
{
    flood *fl = arg;
    struct linger lg = {1, 0};

    while (!__atomic_load_n(&fl->stop, __ATOMIC_RELAXED)) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin;

        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)fl->port);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        /* RST on close: no TIME_WAIT, so the ports never run out */
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        if (connect(c, (struct sockaddr *)&sin, sizeof sin) == 0)
            __atomic_fetch_add(&fl->sent, 1, __ATOMIC_RELAXED);
        close(c);
    }
    return NULL;
}

static void flood_accept(void *data, int status, int fd, const char *host,
                         unsigned port)
{
    flood *fl = data;

    (void)host;
    (void)port;
    if (status == 0) {
        close(fd);
        fl->f->accepts++;
        fl->per_iter++;
    }
}

static void flood_check(struct ev_loop *loop, ev_check *w, int revents)
{
    flood *fl = w->data;

    (void)loop;
    (void)revents;
    /* io callbacks of one iteration run between two checks */
    if (fl->per_iter > fl->max_per_iter)
        fl->max_per_iter = fl->per_iter;
    fl->per_iter = 0;
}

static void flood_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    flood *fl = w->data;
    double now = nt_now();

    (void)loop;
    (void)revents;
    if (fl->ticks++ > 0 && now - fl->last_tick > fl->max_gap)
        fl->max_gap = now - fl->last_tick;
    fl->last_tick = now;
}

static int flood_prepare(void *data, int fd, const char *host,
                         unsigned port)
{
    flood *fl = data;

    (void)fd;
    (void)host;
    fl->port = port;
    return 0;
}

static void run_flood(fx *f, int budget)
{
    anysock_server_opts so;
    anysock_guard *g = NULL;
    flood fl;
    pthread_t th[2];
    ev_check chk;
    ev_timer tick;
    bool never = false;

    memset(&fl, 0, sizeof fl);
    fl.f = f;
    f->accepts = 0;
    anysock_server_opts_init(&so);
    so.accept_budget = budget;
    so.backlog = 4096;
    assert_int_equal(anysock_tcp_server_ex(f->ctx, "127.0.0.1", "0", &so,
                                           flood_accept, flood_prepare,
                                           &fl, &g), 0);
    ev_check_init(&chk, flood_check);
    chk.data = &fl;
    ev_check_start(f->loop, &chk);
    ev_timer_init(&tick, flood_tick, 0.01, 0.01);
    tick.data = &fl;
    ev_timer_start(f->loop, &tick);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, flood_thread, &fl), 0);
    (void)nt_run_until(f->loop, &never, 2.0);
    __atomic_store_n(&fl.stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ev_timer_stop(f->loop, &tick);
    ev_check_stop(f->loop, &chk);
    anysock_guard_cancel(&g);
    print_message("budget %d: %d accepted (%ld connects), at most %d per "
                  "wake-up, 10 ms timer: %d ticks, longest gap %.1f ms\n",
                  budget ? budget : 64, f->accepts, fl.sent, fl.max_per_iter,
                  fl.ticks, fl.max_gap * 1e3);
    assert_true(f->accepts >= 50);
    assert_true(fl.max_per_iter <= (budget ? budget : 64));
    /* 10 ms ticks; a wide margin for a shared, valgrind-slow machine */
    assert_true(fl.ticks >= 20);
    assert_true(fl.max_gap < 0.5);
    f->accepts = 0;
}

static void test_server_accept_budget_under_flood(void **state)
{
    run_flood(*state, 4);
    run_flood(*state, 0);   /* the default, 64 */
}

/* ---- abstract unix sockets ------------------------------------------- */

typedef struct abs_client {
    bool done;
    int status, fd;
} abs_client;

static void abs_connected(void *data, int status, int fd, const char *host,
                          unsigned port)
{
    abs_client *c = data;

    (void)host;
    (void)port;
    c->status = status;
    c->fd = fd;
    c->done = true;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n++;
    closedir(d);
    return n;
}

static void test_server_abstract_echo_and_no_file(void **state)
{
    fx *f = *state;
    /* odd bytes: space, newline, '/', '@', a high byte, a control */
    char name[96], tmpl[] = "/tmp/anysock-abs-XXXXXX", cwd[512], buf[8];
    anysock_sockaddr sa;
    anysock_guard *g = NULL, *cg = NULL;
    abs_client c = {false, 1, -1};
    int n, fd = -7;
    size_t nl;

    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_non_null(mkdtemp(tmpl));
    assert_int_equal(chdir(tmpl), 0);
    snprintf(name, sizeof name, "@anysock a/b\n@\xff\x01-%d", (int)getpid());
    nl = strlen(name);
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", name, on_accept,
                                        on_prepare, f, &f->guard), 0);
    assert_string_equal(f->bound_host, "unix/");
    /* a second server on the same name fails cleanly */
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", name, on_accept,
                                        NULL, f, &g), -EADDRINUSE);
    assert_null(g);
    assert_int_equal(anysock_tcp_bind(f->ctx, "unix/", name, NULL, NULL,
                                      &fd, &g), -EADDRINUSE);
    assert_int_equal(fd, -7);
    /* round trip through tcp_connect's unix/ resolution */
    assert_int_equal(anysock_tcp_connect(f->ctx, "unix/", name,
                                         abs_connected, NULL, &c, &cg), 0);
    assert_true(nt_run_until(f->loop, &c.done, 5.));
    assert_int_equal(c.status, 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(write(c.fd, "ping", 4), 4);
    n = (int)read(f->accepted[0], buf, sizeof buf);
    assert_int_equal(n, 4);
    assert_int_equal(write(f->accepted[0], buf, 4), 4);
    for (n = 0; n <= 0;) {
        n = (int)read(c.fd, buf, sizeof buf);
        if (n < 0 && errno == EAGAIN)
            ev_run(f->loop, EVRUN_NOWAIT);
    }
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "ping", 4);
    /* the server's name as the client sees it: exactly the name's
     * bytes, no NUL padding */
    sa.len = sizeof sa.u;
    assert_int_equal(getpeername(c.fd, &sa.u.sa, &sa.len), 0);
    assert_int_equal(sa.len, offsetof(struct sockaddr_un, sun_path) + nl);
    assert_int_equal(sa.u.un.sun_path[0], '\0');
    assert_memory_equal(sa.u.un.sun_path + 1, name + 1, nl - 1);
    {
        anysock_addr a;
        const char *p;
        size_t pl;

        assert_int_equal(anysock_unpack_sockaddr(&sa.u.sa, sa.len, &a, NULL,
                                                 &p, &pl), 0);
        assert_int_equal(pl, nl);
        assert_int_equal(p[0], '\0');
        assert_memory_equal(p + 1, name + 1, nl - 1);
    }
    close(c.fd);
    anysock_guard_cancel(&cg);
    anysock_guard_cancel(&f->guard);
    /* nothing was created or removed in the (private) working directory;
     * counting /tmp instead raced with the tests running beside this one */
    assert_int_equal(dir_entries("."), 2);
    assert_true(access(name, F_OK) < 0);
    assert_true(access(name + 1, F_OK) < 0);
    /* a file whose name starts with '@' is written ./@x */
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", "./@x", on_accept,
                                        NULL, f, &f->guard), 0);
    assert_int_equal(access("@x", F_OK), 0);
    anysock_guard_cancel(&f->guard);
    assert_true(access("@x", F_OK) < 0);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rmdir(tmpl), 0);
    f->accepts = 1;   /* teardown closes accepted[0] */
}

static void test_server_abstract_name_in_proc_net_unix(void **state)
{
    fx *f = *state;
    char name[64], want[80], line[512];
    FILE *fp;
    bool found = false;

    snprintf(name, sizeof name, "@anysock-proc-%d", (int)getpid());
    assert_int_equal(anysock_tcp_server(f->ctx, "unix/", name, on_accept,
                                        NULL, f, &f->guard), 0);
    /* ss and /proc print the name as "@name": with padding it would be
     * "@name@@@@..." (each NUL shows as '@') */
    snprintf(want, sizeof want, " %s\n", name);
    fp = fopen("/proc/net/unix", "r");
    assert_non_null(fp);
    while (fgets(line, sizeof line, fp) != NULL) {
        size_t ll = strlen(line), wl = strlen(want);

        if (ll >= wl && strcmp(line + ll - wl, want) == 0)
            found = true;
    }
    fclose(fp);
    assert_true(found);
}

/* ---- adoption and socket activation -------------------------------- */

static void test_server_adopt_serves_and_closes(void **state)
{
    fx *f = *state;
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    int l, c, fds0 = nt_count_fds();

    l = socket(AF_INET, SOCK_STREAM, 0);   /* blocking, inheritable */
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(l, 16), 0);
    getsockname(l, (struct sockaddr *)&sin, &len);
    assert_int_equal(anysock_tcp_server_adopt(f->ctx, l, NULL, on_accept, f,
                                              &f->guard), 0);
    assert_true(nt_fd_flags_ok(l));
    c = nt_connect("127.0.0.1", ntohs(sin.sin_port));
    assert_true(c >= 0);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_string_equal(f->peer, "127.0.0.1");
    close(c);
    anysock_guard_cancel(&f->guard);
    /* the library owned it and closed it */
    assert_true(fcntl(l, F_GETFD) < 0 && errno == EBADF);
    assert_int_equal(nt_count_fds(), fds0 + f->accepts);
}

static void test_server_adopt_rejects_what_is_not_a_listener(void **state)
{
    fx *f = *state;
    anysock_guard *g = NULL;
    int p[2], t, u;

    t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(anysock_tcp_server_adopt(f->ctx, t, NULL, on_accept, f,
                                              &g), -EINVAL);
    assert_int_equal(anysock_tcp_server_adopt(f->ctx, u, NULL, on_accept, f,
                                              &g), -EPROTOTYPE);
    assert_int_equal(anysock_tcp_server_adopt(f->ctx, p[0], NULL, on_accept,
                                              f, &g), -ENOTSOCK);
    assert_int_equal(anysock_tcp_server_adopt(f->ctx, -1, NULL, on_accept, f,
                                              &g), -EINVAL);
    close(p[1]);   /* p[1]'s number is now closed */
    assert_int_equal(anysock_tcp_server_adopt(f->ctx, p[1], NULL, on_accept,
                                              f, &g), -EBADF);
    assert_null(g);
    /* still the caller's: open */
    assert_true(fcntl(t, F_GETFD) >= 0 && fcntl(u, F_GETFD) >= 0);
    close(t);
    close(u);
    close(p[0]);
}

/* In a child: fds 3 and 4 are what systemd would pass. Exit codes name
 * the failed check. */
static int listen_fds_child(void)
{
    int fds[4] = {-1, -1, -1, -1}, p[2], n, l4, lu;
    const char *names[4] = {NULL};
    char pid[32];
    struct sockaddr_un sun;

    snprintf(pid, sizeof pid, "%d", (int)getpid());
    /* not activated at all */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    if (anysock_listen_fds(0, fds, names, 4) != 0)
        return 10;
    l4 = nt_listen(0, "127.0.0.1", &(unsigned){0}, 8);
    lu = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path + 1, sizeof sun.sun_path - 1, "anysock-lfd-%s",
             pid);
    if (l4 < 0 || lu < 0 ||
        bind(lu, (struct sockaddr *)&sun,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                         strlen(sun.sun_path + 1))) < 0 ||
        listen(lu, 8) < 0)
        return 11;
    /* out of the way first: either may already be 3 or 4 */
    l4 = fcntl(l4, F_DUPFD, 20);
    lu = fcntl(lu, F_DUPFD, 20);
    if (l4 < 0 || lu < 0 || dup2(l4, 3) != 3 || dup2(lu, 4) != 4)
        return 12;
    close(l4);
    close(lu);
    fcntl(3, F_SETFD, 0);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);
    setenv("LISTEN_FDNAMES", "web:ctl", 1);
    n = anysock_listen_fds(0, fds, names, 4);
    if (n != 2 || fds[0] != 3 || fds[1] != 4)
        return 13;
    if (strncmp(names[0], "web", strcspn(names[0], ":")) != 0 ||
        strcspn(names[0], ":") != 3 || strcmp(names[1], "ctl") != 0)
        return 14;
    if (!nt_fd_flags_ok(3) || !nt_fd_flags_ok(4))
        return 15;
    if (getenv("LISTEN_FDS") == NULL)
        return 16;   /* unset_env 0 keeps them */
    /* fewer names than fds: "unknown"; max 1 still counts both */
    setenv("LISTEN_FDNAMES", "web", 1);
    n = anysock_listen_fds(1, fds, names, 1);
    if (n != 2 || strcmp(names[0], "web") != 0)
        return 17;
    if (getenv("LISTEN_PID") || getenv("LISTEN_FDS") ||
        getenv("LISTEN_FDNAMES"))
        return 18;   /* unset as sd_listen_fds(1) */
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);
    if (anysock_listen_fds(0, fds, names, 4) != 2 ||
        strcmp(names[0], "unknown") != 0)
        return 19;
    /* meant for another process */
    setenv("LISTEN_PID", "1", 1);
    if (anysock_listen_fds(0, fds, NULL, 4) != 0)
        return 20;
    /* malformed */
    setenv("LISTEN_PID", "12x", 1);
    if (anysock_listen_fds(0, fds, NULL, 4) != -EINVAL)
        return 21;
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "-1", 1);
    if (anysock_listen_fds(0, fds, NULL, 4) != -EINVAL)
        return 22;
    setenv("LISTEN_FDS", "99999999999", 1);
    if (anysock_listen_fds(0, fds, NULL, 4) != -EINVAL)
        return 23;
    /* fd 5 is not there; fd 3 a pipe */
    setenv("LISTEN_FDS", "3", 1);
    close(5);
    if (anysock_listen_fds(0, fds, NULL, 4) != -EBADF)
        return 24;
    if (pipe(p) < 0 || dup2(p[0], 3) != 3)
        return 25;
    setenv("LISTEN_FDS", "1", 1);
    if (anysock_listen_fds(1, fds, NULL, 4) != -ENOTSOCK)
        return 26;
    if (getenv("LISTEN_PID") != NULL)
        return 27;   /* unset even on error */
    return 0;
}

static void test_listen_fds_protocol(void **state)
{
    pid_t pid;
    int st;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(listen_fds_child());
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- server options read back --------------------------------------- */

static int opts_prepare(void *data, int fd, const char *host, unsigned port)
{
    int *out = data, v;
    socklen_t len = sizeof v;

    (void)host;
    (void)port;
    if (getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &len) == 0)
        out[0] = v;
    len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &v, &len) == 0)
        out[1] = v;
    len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0)
        out[2] = v;
    return 0;
}

static void test_server_options_read_back(void **state)
{
    fx *f = *state;
    anysock_server_opts so;
    int got[3] = {-1, -1, -1}, v = 0, fd = -1;
    socklen_t len = sizeof v;
    anysock_guard *g = NULL;

    anysock_server_opts_init(&so);
    so.flags = ANYSOCK_SERVER_REUSEPORT;
    so.defer_accept = 5;
    so.fastopen_qlen = 16;
    assert_int_equal(anysock_tcp_bind_ex(f->ctx, "127.0.0.1", "0", &so,
                                         opts_prepare, got, &fd, &g), 0);
    /* the kernel rounds seconds to its retransmission steps */
    assert_true(got[0] >= 5);
    assert_int_equal(got[1], 1);
    assert_int_equal(got[2], IPPROTO_TCP);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &v, &len), 0);
    assert_int_equal(v, 16);
    close(fd);
    anysock_guard_cancel(&g);
    /* bad values are -EINVAL, before any socket */
    so.defer_accept = -1;
    assert_int_equal(anysock_tcp_bind_ex(f->ctx, "127.0.0.1", "0", &so,
                                         NULL, NULL, &fd, &g), -EINVAL);
    anysock_server_opts_init(&so);
    so.flags = 0x80;
    assert_int_equal(anysock_tcp_server_ex(f->ctx, "127.0.0.1", "0", &so,
                                           on_accept, NULL, f, &g), -EINVAL);
    /* an older caller's smaller struct: defaults for the rest */
    anysock_server_opts_init(&so);
    so.size = offsetof(anysock_server_opts, flags) + sizeof so.flags;
    so.fastopen_qlen = -5;   /* beyond size: not read */
    assert_int_equal(anysock_tcp_server_ex(f->ctx, "127.0.0.1", "0", &so,
                                           on_accept, NULL, f, &f->guard),
                     0);
}

static void test_server_defer_accept_waits_for_data(void **state)
{
    fx *f = *state;
    anysock_server_opts so;
    bool never = false;
    int c;

    anysock_server_opts_init(&so);
    so.defer_accept = 5;
    assert_int_equal(anysock_tcp_server_ex(f->ctx, "127.0.0.1", "0", &so,
                                           on_accept, on_prepare, f,
                                           &f->guard), 0);
    c = nt_connect("127.0.0.1", f->bound_port);
    assert_true(c >= 0);
    /* connected, but silent: the kernel holds it back from accept */
    (void)nt_run_until(f->loop, &never, 0.5);
    assert_int_equal(f->accepts, 0);
    assert_int_equal(write(c, "go", 2), 2);
    assert_true(nt_run_until(f->loop, &f->done, 5.));
    assert_int_equal(f->accepts, 1);
    close(c);
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
        T(test_server_ctx_free_in_prepare_is_ecanceled),
        T(test_server_ipv6_only_preference_sets_v6only),
        T(test_server_v6only_flag_and_explicit_dual_stack),
        T(test_server_live_unix_path_is_eaddrinuse),
        T(test_server_accept_budget_under_flood),
        T(test_server_abstract_echo_and_no_file),
        T(test_server_abstract_name_in_proc_net_unix),
        T(test_server_adopt_serves_and_closes),
        T(test_server_adopt_rejects_what_is_not_a_listener),
        T(test_listen_fds_protocol),
        T(test_server_options_read_back),
        T(test_server_defer_accept_waits_for_data),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
