/* The hosts file (src/hosts.c) as resolve_sockaddr uses it: per family
 * when DNS had none, re-read when it changes, missing, unreadable, full
 * of garbage, or a FIFO swapped in under its path. Against dnsmasq (the
 * ctest fixture) and the fault responder (tests/harness/fakedns.c). */
#define _GNU_SOURCE /* utimensat, setgroups */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "internal.h"
#include "harness/fakedns.h"
#include "harness/rtest.h"

#define Z ".anysock.test"

#include "harness/rfixture.h"


/* ---- per family, re-read ------------------------------------------------ */

static void test_hosts_file_answers_a_family_dns_lacks(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    /* DNS has A for a.*: the hosts A is ignored, its AAAA is used */
    write_hosts(t, "127.0.0.77 a" Z "\n::1 A" Z " # comment\n");
    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("a" Z, "80", NULL, 0, 0),
                        "inet 127.0.0.11 80, inet6 ::1 80");
}
static void test_hosts_file_answers_unknown_name(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    write_hosts(t, "# test\n  127.0.0.78\tother hostsonly" Z "\n"
                   "bogus hostsonly" Z "\n127.0.0.79 hostsonly" Z "\n");
    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("hostsonly" Z, "80", NULL, 0, 0),
                        "inet 127.0.0.78 80, inet 127.0.0.79 80");
}
static void test_hosts_file_is_reread_when_changed(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];
    struct timespec ts[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};

    write_hosts(t, "127.0.0.80 h" Z "\n");
    utimensat(AT_FDCWD, t->hosts, ts, 0);
    ctx_dns(t, NULL);
    assert_string_equal(RESOLVE("h" Z, "80", NULL, 0, 0),
                        "inet 127.0.0.80 80");
    write_hosts(t, "127.0.0.81 h" Z "\n");
    ts[0].tv_sec = ts[1].tv_sec = 2000000;
    utimensat(AT_FDCWD, t->hosts, ts, 0);
    assert_string_equal(RESOLVE("h" Z, "80", NULL, 0, 0),
                        "inet 127.0.0.81 80");
}

/* ---- missing, unreadable, garbage ---------------------------------------- */

static void test_hosts_file_missing_dns_still_answers(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024];

    assert_int_equal(unlink(t->hosts), 0);
    ctx_fake(t, 0.5, 2);
    assert_string_equal(RESOLVE("ok.example", "80", NULL, 4, 0),
                        "inet 127.0.0.60 80");
    /* NXDOMAIN and no file to fall back on */
    assert_string_equal(RESOLVE("nx.hostsonly", "80", NULL, 0, 0), "");
    assert_int_equal(r.status, -ENXIO);
    /* the file appearing later is noticed */
    write_hosts(t, "127.0.0.90 nx.hostsonly\n");
    assert_string_equal(RESOLVE("nx.hostsonly", "80", NULL, 4, 0),
                        "inet 127.0.0.90 80");
}

/* In a child that is not root (as root, permissions do not apply): a 0600
 * root-owned hosts file cannot be opened, DNS still answers and the name
 * only that file holds is not found. Exit codes name the failed step. */
static int unreadable_child(uint16_t port, const char *hosts)
{
    struct ev_loop *loop;
    anysock_config cfg;
    anysock_ctx *ctx = NULL;
    char servers[64], buf[256];
    struct rec r;
    int fd;

    if (getuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
                          setuid(65534) != 0))
        return 10;
    fd = open(hosts, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 || errno != EACCES)
        return 11;   /* the set-up would prove nothing */
    loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(servers, sizeof servers, "127.0.0.1:%u", port);
    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    cfg.hosts_file = hosts;
    cfg.dns_timeout = 0.5;
    cfg.dns_tries = 2;
    if (loop == NULL || anysock_ctx_new(loop, &cfg, &ctx) != 0)
        return 12;
    memset(&r, 0, sizeof r);
    if (anysock_resolve_sockaddr(ctx, "nx.unreadable", "80", NULL, 0, 0,
                                 rec_resolve_cb, &r, NULL) != 0)
        return 13;
    r.returned = true;
    if (!run_until(loop, &r.calls, 1, 10) || r.early || r.status != -ENXIO)
        return 14;
    memset(&r, 0, sizeof r);
    if (anysock_resolve_sockaddr(ctx, "ok.example", "80", NULL, 4, 0,
                                 rec_resolve_cb, &r, NULL) != 0)
        return 15;
    r.returned = true;
    if (!run_until(loop, &r.calls, 1, 10) || r.status != 0 ||
        strcmp(rec_str(&r, buf, sizeof buf), "inet 127.0.0.60 80") != 0)
        return 16;
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    return 0;
}

static void test_hosts_file_unreadable_dns_still_answers(void **state)
{
    struct t *t = *state;
    pid_t pid;
    int st;

    write_hosts(t, "127.0.0.91 nx.unreadable\n");
    if (getuid() == 0)
        assert_int_equal(chown(t->hosts, 0, 0), 0);
    /* not root: mode 0 keeps the owner out too */
    assert_int_equal(chmod(t->hosts, getuid() == 0 ? 0600 : 0), 0);
    ctx_fake(t, 0.5, 2);   /* the responder thread answers the child too */
    /* the same file, readable: the name is found (the test's control) */
    {
        struct rec r;
        char buf[1024];

        if (getuid() == 0)
            assert_string_equal(RESOLVE("nx.unreadable", "80", NULL, 4, 0),
                                "inet 127.0.0.91 80");
    }
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(unreadable_child(t->fakeport, t->hosts));
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    print_message("unreadable hosts child: exit %d\n", WEXITSTATUS(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}
static void test_hosts_file_garbage_keeps_valid_lines(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[1024], big[300];
    FILE *f = fopen(t->hosts, "w");
    static const char binary[] = "\x01\x02\xff\xfe\x80 \x7f\t\x1b[0m\n";
    static const char nul[] = "127.0.0.93 nx.a\0b nx.nul\n";

    assert_non_null(f);
    fwrite(binary, 1, sizeof binary - 1, f);
    fputs("127.0.0.92 nx.before\n", f);
    fwrite(nul, 1, sizeof nul - 1, f);
    fputs("\0\0\0\n", f);
    /* a 1 MiB line: an address and one enormous name */
    fputs("127.0.0.94 ", f);
    for (int i = 0; i < 1024 * 1024; i++)
        fputc('y', f);
    fputs("\n999.1.1.1 nx.bad\n1.2.3.4.5 nx.bad\n::g nx.bad\n"
          "127.0.0.1.nx.bad\n127.0.0.98\tnx.bad\x01 \n", f);
    memset(big, 'a', sizeof big);
    fprintf(f, "127.0.0.95 nx.%.*s\n", (int)sizeof big, big);
    fputs("127.0.0.96 nx.after", f);   /* no newline at the end */
    assert_int_equal(fclose(f), 0);

    ctx_fake(t, 0.5, 2);
    assert_string_equal(RESOLVE("nx.before", "80", NULL, 4, 0),
                        "inet 127.0.0.92 80");
    /* the NUL ends neither the file nor its line; the word holding it
     * matches nothing, as in 7.17 */
    assert_string_equal(RESOLVE("nx.nul", "80", NULL, 4, 0),
                        "inet 127.0.0.93 80");
    assert_string_equal(RESOLVE("nx.a", "80", NULL, 4, 0), "");
    assert_int_equal(r.status, -ENXIO);
    assert_string_equal(RESOLVE("nx.after", "80", NULL, 4, 0),
                        "inet 127.0.0.96 80");
    assert_string_equal(RESOLVE("nx.bad", "80", NULL, 4, 0), "");
    assert_int_equal(r.status, -ENXIO);
    assert_string_equal(RESOLVE("nx.bad\x01", "80", NULL, 4, 0),
                        "inet 127.0.0.98 80");
    /* DNS still answers */
    assert_string_equal(RESOLVE("ok.example", "80", NULL, 4, 0),
                        "inet 127.0.0.60 80");
}

/* ---- hosts file: a FIFO swapped in between stat and open ---------------- */

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);

static const char *swap_path;    /* armed: the hosts file */
static const char *swap_fifo;    /* what replaces it */
static int swap_flags = -1;      /* the flags the library opened it with */

int __wrap_open(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode;

    va_start(ap, flags);
    mode = (flags & O_CREAT) ? (mode_t)va_arg(ap, int) : 0;
    va_end(ap);
    if (swap_path != NULL && strcmp(path, swap_path) == 0) {
        /* the race: stat saw a regular file, open gets a FIFO */
        assert_int_equal(rename(swap_fifo, swap_path), 0);
        swap_flags = flags;
        swap_path = NULL;
    }
    return __real_open(path, flags, mode);
}

static void test_hosts_fifo_swapped_in_does_not_block(void **state)
{
    struct t *t = *state;
    struct rec r;
    char buf[256], fifo[300];
    FILE *f;

    ctx_fake(t, 0.5, 1);   /* nx.*: NXDOMAIN */
    f = fopen(t->hosts, "w");
    assert_non_null(f);
    fputs("127.0.0.90 nx.fifo\n", f);
    fclose(f);
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "nx.fifo", "80", NULL, 4,
                                              0, rec_resolve_cb, &r, NULL),
                     0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 10));
    assert_string_equal(rec_str(&r, buf, sizeof buf), "inet 127.0.0.90 80");

    /* change the file (the cache re-reads it), and have a FIFO take its
     * place between the library's stat and its open: a blocking open of
     * a FIFO with no writer never returns, so the alarm would end us */
    f = fopen(t->hosts, "a");
    assert_non_null(f);
    fputs("127.0.0.91 nx.fifo2\n", f);
    fclose(f);
    {
        struct timespec ts[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};

        assert_int_equal(utimensat(AT_FDCWD, t->hosts, ts, 0), 0);
    }
    snprintf(fifo, sizeof fifo, "%s.fifo", t->hosts);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    swap_fifo = fifo;
    swap_path = t->hosts;
    alarm(30);
    memset(&r, 0, sizeof r);
    assert_int_equal(anysock_resolve_sockaddr(t->ctx, "nx.fifo", "80", NULL, 4,
                                              0, rec_resolve_cb, &r, NULL),
                     0);
    r.returned = true;
    assert_true(run_until(t->loop, &r.calls, 1, 10));
    alarm(0);
    assert_null(swap_path);   /* the swap happened */
    assert_true((swap_flags & O_NONBLOCK) && (swap_flags & O_CLOEXEC));
    /* a FIFO is no hosts file: nothing from it, DNS said NXDOMAIN */
    assert_int_equal(r.status, -ENXIO);
    print_message("FIFO in place of the hosts file: %s at once\n",
                  anysock_err_name(r.status));
}

/* ---- a big (ad-block style) hosts file ---------------------------------- */

struct big {
    int left, bad;
    double it_start, it_max;
};
struct big_q {
    struct big *b;
    uint32_t want;       /* the expected IPv4 address, network order */
};

static double now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
static double now_thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The work of one loop iteration runs between its check (after the poll)
 * and its prepare (before the next poll). */
static void big_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    struct big *b = w->data;

    (void)loop, (void)revents;
    b->it_start = now_mono();
}
static void big_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct big *b = w->data;
    double d = now_mono() - b->it_start;

    (void)loop, (void)revents;
    if (b->it_start > 0 && d > b->it_max)
        b->it_max = d;
}

static void big_cb(void *data, int status, const anysock_target *a, size_t n)
{
    struct big_q *q = data;

    if (status != 0 || n != 1 || a[0].family != AF_INET ||
        a[0].addr.u.in.sin_addr.s_addr != q->want)
        q->b->bad++;
    q->b->left--;
}

static uint32_t big_addr(size_t i)
{
    return htonl(0x7f000000u | (uint32_t)(i + 1));   /* 127.x.y.z */
}

/* 200,000 lines (20,000 under valgrind), every name NXDOMAIN in DNS so the
 * file answers: the parse is one short loop iteration, and a look-up
 * costs the same whatever the file's size (it was a strcmp per line:
 * ~1.2 ms of CPU each at 150,000 lines in the dev build). */
static void test_hosts_big_file_lookups_stay_cheap(void **state)
{
    struct t *t = *state;
    const bool vg = RUNNING_ON_VALGRIND;
    const size_t lines = vg ? 20000 : 200000, lookups = vg ? 500 : 10000;
    const size_t batch = 500;
    struct big b = {0};
    struct big_q *q = calloc(batch, sizeof *q);
    ev_check chk;
    ev_prepare prep;
    double w0, c0, first_wall, first_cpu, cpu, wall;
    FILE *f = fopen(t->hosts, "w");

    assert_non_null(f);
    assert_non_null(q);
    for (size_t i = 0; i < lines; i++) {
        struct in_addr ia = {.s_addr = big_addr(i)};
        char a[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &ia, a, sizeof a);
        fprintf(f, "%s nx.ad%zu.big.test\t# line %zu\n", a, i, i);
    }
    assert_int_equal(fclose(f), 0);
    ctx_fake(t, 2, 2);
    ev_check_init(&chk, big_check_cb);
    chk.data = &b;
    ev_check_start(t->loop, &chk);
    ev_prepare_init(&prep, big_prepare_cb);
    prep.data = &b;
    ev_prepare_start(t->loop, &prep);

    /* the first look-up reads and indexes the file */
    q[0] = (struct big_q){&b, big_addr(lines - 1)};
    b.left = 1;
    w0 = now_mono();
    c0 = now_thread_cpu();
    {
        char name[64];

        snprintf(name, sizeof name, "NX.ad%zu.BIG.test", lines - 1);
        assert_int_equal(anysock_resolve_sockaddr(t->ctx, name, "80", NULL, 4,
                                                  0, big_cb, &q[0], NULL),
                         0);
    }
    while (b.left > 0)
        ev_run(t->loop, EVRUN_ONCE);
    first_wall = now_mono() - w0;
    first_cpu = now_thread_cpu() - c0;
    assert_int_equal(b.bad, 0);
    print_message("%zu-line hosts file: first look-up (parse) %.3f s wall, "
                  "%.3f s CPU, longest iteration %.3f s\n",
                  lines, first_wall, first_cpu, b.it_max);

    /* then `lookups` names spread over the file, `batch` at a time */
    b.it_max = 0;
    w0 = now_mono();
    c0 = now_thread_cpu();
    for (size_t done = 0; done < lookups; done += batch) {
        b.left = (int)batch;
        for (size_t j = 0; j < batch; j++) {
            size_t i = ((done + j) * 7919) % lines;
            char name[64];

            snprintf(name, sizeof name, "nx.ad%zu.big.test", i);
            q[j] = (struct big_q){&b, big_addr(i)};
            assert_int_equal(anysock_resolve_sockaddr(t->ctx, name, "80",
                                                      NULL, 4, 0, big_cb,
                                                      &q[j], NULL),
                             0);
        }
        while (b.left > 0)
            ev_run(t->loop, EVRUN_ONCE);
    }
    cpu = now_thread_cpu() - c0;
    wall = now_mono() - w0;
    ev_check_stop(t->loop, &chk);
    ev_prepare_stop(t->loop, &prep);
    free(q);
    print_message("%zu look-ups: %.3f s wall, %.1f us CPU each (DNS "
                  "NXDOMAIN, then the file), longest iteration %.3f s\n",
                  lookups, wall, cpu / (double)lookups * 1e6, b.it_max);
    assert_int_equal(b.bad, 0);
    if (vg)
        return;   /* valgrind: the figures only */
    /* wide margins (shared machine, ASan): 11-30 us each measured (dev,
     * asan); with a scan per look-up it was ~1,200 us (dev) */
    assert_true(cpu / (double)lookups < 400e-6);
    assert_true(first_cpu < 2.0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_hosts_file_answers_a_family_dns_lacks),
        T(test_hosts_file_answers_unknown_name),
        T(test_hosts_file_is_reread_when_changed),
        T(test_hosts_file_missing_dns_still_answers),
        T(test_hosts_file_unreadable_dns_still_answers),
        T(test_hosts_file_garbage_keeps_valid_lines),
        T(test_hosts_fifo_swapped_in_does_not_block),
        T(test_hosts_big_file_lookups_stay_cheap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
