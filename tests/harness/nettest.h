/* Helpers shared by the connection tests: fd counting, a bounded loop
 * driver, hosts files, and a listener whose accept queue is full (a
 * blackhole that needs no root). Header-only: each test is one file. */
#ifndef ANYSOCK_NETTEST_H
#define ANYSOCK_NETTEST_H

#include <anysock.h>
#include <ev.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka prints SKIPPED; say why as well (users include cmocka.h) */
#define SKIP(why)                                                           \
    do {                                                                    \
        print_message("skipped: %s\n", why);                               \
        skip();                                                             \
    } while (0)

/* CPU time (user + system) this process has used: bounds "does not
 * spin" without depending on the machine's speed. */
static inline double nt_cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Open fds of this process (the directory's own fd excluded). */
static inline int nt_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

static inline bool nt_fd_flags_ok(int fd)
{
    int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);

    return fl >= 0 && (fl & O_NONBLOCK) && fdf >= 0 && (fdf & FD_CLOEXEC);
}

static inline void nt_timeout_cb(struct ev_loop *loop, ev_timer *w, int r)
{
    (void)r;
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until *done or `limit` seconds pass. Returns *done. */
static inline bool nt_run_until(struct ev_loop *loop, const bool *done,
                                double limit)
{
    ev_timer t;
    bool expired = false;

    ev_timer_init(&t, nt_timeout_cb, limit, 0.);
    t.data = &expired;
    ev_timer_start(loop, &t);
    while (!*done && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &t);
    return *done;
}

/* True when the loop has nothing left active: ev_run returns by itself
 * (a guard timer catches the opposite). */
static inline bool nt_loop_idle(struct ev_loop *loop)
{
    ev_timer t;
    bool expired = false;

    ev_timer_init(&t, nt_timeout_cb, 2., 0.);
    t.data = &expired;
    ev_timer_start(loop, &t);
    ev_unref(loop);          /* the guard timer alone keeps nothing up */
    ev_run(loop, 0);
    ev_ref(loop);
    ev_timer_stop(loop, &t);
    return !expired;
}

static inline double nt_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A plain blocking listener on addr:port (port 0: ephemeral); returns the
 * fd and writes the port. */
static inline int nt_listen(int family, const char *addr, unsigned *port,
                            int backlog)
{
    anysock_addr a;
    anysock_sockaddr sa;
    int fd, one = 1;

    if (anysock_parse_address(addr, strlen(addr), &a) < 0 ||
        anysock_pack_sockaddr(&a, (uint16_t)*port, NULL, 0, &sa) < 0)
        return -EINVAL;
    (void)family;
    fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, &sa.u.sa, sa.len) < 0 || listen(fd, backlog) < 0) {
        int e = -errno;

        close(fd);
        return e;
    }
    sa.len = sizeof sa.u;
    getsockname(fd, &sa.u.sa, &sa.len);
    *port = ntohs(a.family == AF_INET ? sa.u.in.sin_port
                                      : sa.u.in6.sin6_port);
    return fd;
}

/* A blocking client connected to addr:port, or a negated errno. */
static inline int nt_connect(const char *addr, unsigned port)
{
    anysock_addr a;
    anysock_sockaddr sa;
    int fd;

    if (anysock_parse_address(addr, strlen(addr), &a) < 0 ||
        anysock_pack_sockaddr(&a, (uint16_t)port, NULL, 0, &sa) < 0)
        return -EINVAL;
    fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, &sa.u.sa, sa.len) < 0) {
        int e = -errno;

        close(fd);
        return e;
    }
    return fd;
}

/* Blackhole without root: a listener with backlog 0 whose accept queue
 * is filled, so the kernel drops further SYNs to addr:*port (the client
 * stays in SYN-SENT). The fds to close later go to hold[0..2]. */
static inline int nt_blackhole(const char *addr, unsigned *port, int hold[3])
{
    /* backlog 0 queues exactly one connection (Linux: full means more
     * than the backlog); a blocking connect completes its handshake on
     * loopback before returning, so the queue is full on return */
    hold[2] = -1;
    hold[0] = nt_listen(0, addr, port, 0);
    if (hold[0] < 0)
        return hold[0];
    hold[1] = nt_connect(addr, *port);
    if (hold[1] < 0) {
        close(hold[0]);
        return hold[1];
    }
    return 0;
}

static inline void nt_close3(int hold[3])
{
    for (int i = 0; i < 3; i++)
        if (hold[i] >= 0)
            close(hold[i]);
}

/* Write a hosts file in a fresh temp file; returns its malloc'd name. */
static inline char *nt_hosts_file(const char *content)
{
    char *name = strdup("/tmp/anysock-hosts-XXXXXX");
    int fd = mkstemp(name);

    if (fd < 0 || write(fd, content, strlen(content)) < 0) {
        free(name);
        return NULL;
    }
    close(fd);
    return name;
}

/* A forked child running fn(ctl_r, ctl_w), its return value its exit
 * status, talking to the parent over two pipes (the parent keeps *to_child
 * to write and *from_child to read; a dead child reads as EOF). Its first
 * message is a port. Returns 0 with *port set, or -1 when the child died
 * first: then it has been reaped, both pipes are closed, and *status is
 * its exit code (-1 if it did not exit normally). */
typedef struct nt_child {
    pid_t pid;
    int to_child, from_child;
    unsigned port;
    int status;
} nt_child;

static inline int nt_child_start(nt_child *c, int (*fn)(int, int))
{
    int down[2], up[2], st;

    if (pipe(down) < 0)
        return -1;
    if (pipe(up) < 0) {
        close(down[0]);
        close(down[1]);
        return -1;
    }
    /* no exec follows, but other tests' children must not inherit them */
    for (int i = 0; i < 2; i++) {
        (void)fcntl(down[i], F_SETFD, FD_CLOEXEC);
        (void)fcntl(up[i], F_SETFD, FD_CLOEXEC);
    }
    c->pid = fork();
    if (c->pid == 0)
        _exit(fn(down[0], up[1]));
    close(down[0]);
    close(up[1]);
    c->to_child = down[1];
    c->from_child = up[0];
    c->status = -1;
    if (c->pid > 0 &&
        read(c->from_child, &c->port, sizeof c->port) == sizeof c->port)
        return 0;
    if (c->pid > 0 && waitpid(c->pid, &st, 0) == c->pid && WIFEXITED(st))
        c->status = WEXITSTATUS(st);
    close(c->to_child);
    close(c->from_child);
    return -1;
}

/* Reap the child and close the pipes; its exit code, or -1. */
static inline int nt_child_end(nt_child *c)
{
    int st, rc = -1;

    if (waitpid(c->pid, &st, 0) == c->pid && WIFEXITED(st))
        rc = WEXITSTATUS(st);
    close(c->to_child);
    close(c->from_child);
    return rc;
}

/* A context for the connection tests that never reaches the network: DNS
 * only from dns_server (one try of 0.5 s), then `hosts` (the text of a
 * fresh temporary hosts file, its path left in *hosts_path; NULL: no
 * hosts). delay < 0 keeps the default connect_delay. An earlier *ctx and
 * *hosts_path are freed first, so tests may call it again. */
static inline int nt_make_ctx(struct ev_loop *loop, const char *dns_server,
                              const char *hosts, double delay,
                              anysock_ctx **ctx, char **hosts_path)
{
    anysock_config cfg;

    if (*hosts_path != NULL) {
        unlink(*hosts_path);
        free(*hosts_path);
        *hosts_path = NULL;
    }
    if (*ctx != NULL) {
        anysock_ctx_free(*ctx);
        *ctx = NULL;
    }
    anysock_config_init(&cfg);
    if (delay >= 0.)
        cfg.connect_delay = delay;
    cfg.dns_servers = dns_server;
    cfg.dns_tries = 1;
    cfg.dns_timeout = 0.5;
    cfg.hosts_file = "/dev/null";
    if (hosts != NULL) {
        *hosts_path = nt_hosts_file(hosts);
        if (*hosts_path == NULL)
            return -EIO;
        cfg.hosts_file = *hosts_path;
    }
    return anysock_ctx_new(loop, &cfg, ctx);
}

static inline bool nt_have_ipv6(void)
{
    unsigned port = 0;
    int fd = nt_listen(AF_INET6, "::1", &port, 1);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

#endif
