/* tcp_connect and tcp_server with each heap allocation failing in turn
 * (link-time wrap of anysock__malloc/calloc): an error is returned or
 * reported exactly once, and nothing leaks (fds here, bytes under ASan
 * and valgrind). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "internal.h"
#include "harness/nettest.h"
#include "harness/failalloc.h"

typedef struct run {
    int calls, status, fd;
    bool done;
} run;

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    run *r = data;

    (void)host;
    (void)port;
    r->calls++;
    r->status = status;
    r->fd = fd;
    r->done = true;
}

/* One tcp_connect to `host` and a listening 127.0.0.1 port with
 * allocation `n` failing (-1: none). Returns how many allocations it made. */
static long connect_once(const char *host, long n, unsigned port)
{
    int fds = nt_count_fds(), rc;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    anysock_ctx *ctx = NULL;
    anysock_guard *g = NULL;
    run r = {.fd = -1};
    char p[8];
    long made;

    assert_int_equal(anysock_ctx_new(loop, NULL, &ctx), 0);
    snprintf(p, sizeof p, "%u", port);
    count = 0;
    fail_at = n;
    rc = anysock_tcp_connect(ctx, host, p, on_connect, NULL, &r, &g);
    if (rc < 0) {
        assert_int_equal(rc, -ENOMEM);
        assert_null(g);
    } else {
        assert_true(nt_run_until(loop, &r.done, 5.));
        assert_int_equal(r.calls, 1);
        if (r.status == 0)
            close(r.fd);
        else if (n < 0)
            fail_msg("connect failed without a failing allocation: %d",
                     r.status);
    }
    made = count;
    fail_at = -1;
    anysock_guard_cancel(&g);
    assert_true(nt_loop_idle(loop));
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    assert_int_equal(nt_count_fds(), fds);
    return made;
}

static void test_connect_each_allocation_failing(void **state)
{
    unsigned port = 0;
    int l = nt_listen(AF_INET, "127.0.0.1", &port, 64);
    long total;

    (void)state;
    assert_true(l >= 0);
    /* a name: ours (the op, its attempts) and the resolver's */
    total = connect_once("localhost", -1, port);
    assert_true(total >= 3);
    print_message("tcp_connect(localhost) made %ld allocations\n", total);
    for (long n = 0; n < total; n++)
        connect_once("localhost", n, port);
    /* a literal skips the resolver: one block for the whole connect */
    assert_int_equal(connect_once("127.0.0.1", -1, port), 1);
    connect_once("127.0.0.1", 0, port);
    close(l);
}

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    (void)data;
    (void)status;
    (void)host;
    (void)port;
    if (fd >= 0)
        close(fd);
}

static void test_server_allocation_failing_leaves_nothing(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    anysock_ctx *ctx = NULL;
    anysock_guard *g = NULL;
    char path[64];
    struct stat st;
    int fds, fd = -1;

    (void)state;
    assert_int_equal(anysock_ctx_new(loop, NULL, &ctx), 0);
    snprintf(path, sizeof path, "/tmp/anysock-alloc-%d.sock", (int)getpid());
    fds = nt_count_fds();
    count = 0;
    fail_at = 0;
    assert_int_equal(anysock_tcp_server(ctx, "127.0.0.1", NULL, on_accept,
                                        NULL, NULL, &g), -ENOMEM);
    count = 0;
    fail_at = 0;
    assert_int_equal(anysock_tcp_server(ctx, "unix/", path, on_accept, NULL,
                                        NULL, &g), -ENOMEM);
    count = 0;
    fail_at = 0;
    assert_int_equal(anysock_tcp_bind(ctx, "unix/", path, NULL, NULL, &fd,
                                      &g), -ENOMEM);
    fail_at = -1;
    assert_null(g);
    assert_int_equal(fd, -1);
    assert_int_equal(nt_count_fds(), fds);
    assert_int_equal(lstat(path, &st), -1);   /* no socket file left */
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_each_allocation_failing),
        cmocka_unit_test(test_server_allocation_failing_leaves_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
