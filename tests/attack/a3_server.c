/* Server side: ctx_free / cancel inside listen prepare_cb and accept_cb,
 * odd abstract names, adopt with bad fds. Prints one line per case. */
#include "common.h"
#include <sys/un.h>
#include <fcntl.h>

static anysock_ctx *ctx;
static anysock_guard *g;
static int accepted, after_free, freed, mode;

static int lp_free(void *d, int fd, const char *h, unsigned p)
{ (void)d; (void)fd; (void)h; (void)p; anysock_ctx_free(ctx); ctx = NULL; return 0; }

static void acb(void *d, int st, int fd, const char *h, unsigned p)
{
    (void)d; (void)h; (void)p; (void)st;
    if (freed) after_free++;
    accepted++;
    if (fd >= 0) close(fd);
    if (mode == 1 && !freed) { freed = 1; anysock_ctx_free(ctx); ctx = NULL; }
    if (mode == 2 && !freed) { freed = 1; anysock_guard_cancel(&g); }
}

static void srv_case(const char *name, const char *host, const char *svc, int bind)
{
    struct ev_loop *loop = ev_default_loop(0);
    int fd0 = count_fds(), rc, lfd = -1;
    anysock_ctx_new(loop, NULL, &ctx);
    if (bind) rc = anysock_tcp_bind(ctx, host, svc, lp_free, NULL, &lfd, &g);
    else rc = anysock_tcp_server(ctx, host, svc, acb, lp_free, NULL, &g);
    if (ctx) { printf("  ctx still alive?\n"); anysock_ctx_free(ctx); }
    printf("%-32s rc=%d (%s) fds %d->%d %s\n", name, rc, anysock_err_name(rc), fd0, count_fds(),
           rc == -ECANCELED && count_fds() == fd0 ? "ok" : "<-- BAD");
}

static void accept_case(int m, int nconn)
{
    struct ev_loop *loop = ev_default_loop(0);
    int fd0 = count_fds(), rc, i, c[64];
    anysock_ctx_new(loop, NULL, &ctx);
    mode = m; freed = 0; accepted = 0; after_free = 0;
    rc = anysock_tcp_server(ctx, "127.0.0.1", "0", acb, NULL, NULL, &g);
    /* find port */
    struct sockaddr_in sa; socklen_t sl = sizeof sa;
    /* the listener is the newest fd */
    int lfd = -1;
    for (i = 3; i < 256; i++) { sl = sizeof sa; int v = 0; socklen_t vl = sizeof v;
        if (getsockname(i, (void *)&sa, &sl) == 0 && sa.sin_family == AF_INET &&
            getsockopt(i, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) == 0 && v) lfd = i; }
    sl = sizeof sa; getsockname(lfd, (void *)&sa, &sl);
    for (i = 0; i < nconn; i++) { c[i] = socket(AF_INET, SOCK_STREAM, 0); connect(c[i], (void *)&sa, sizeof sa); }
    ev_run(loop, EVRUN_NOWAIT); ev_run(loop, EVRUN_NOWAIT);
    if (m == 2 && ctx) anysock_ctx_free(ctx);
    for (i = 0; i < nconn; i++) close(c[i]);
    printf("accept mode %d: rc=%d accepted %d after_free %d fds %d->%d %s\n", m, rc, accepted, after_free, fd0, count_fds(),
           accepted == 1 && after_free == 0 && count_fds() == fd0 ? "ok" : "<-- BAD");
}

static void abs_case(const char *label, const char *svc)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_guard *g2 = NULL;
    int fd0 = count_fds(), rc, rc2 = 0;
    anysock_ctx_new(loop, NULL, &ctx);
    rc = anysock_tcp_server(ctx, "unix/", svc, acb, NULL, NULL, &g);
    if (rc == 0) rc2 = anysock_tcp_server(ctx, "unix/", svc, acb, NULL, NULL, &g2);
    if (rc == 0) anysock_guard_cancel(&g);
    if (rc2 == 0 && g2) anysock_guard_cancel(&g2);
    anysock_ctx_free(ctx);
    printf("abstract %-24s len %3zu: rc=%d (%s) second=%d (%s) fds %d->%d\n", label, strlen(svc), rc, anysock_err_name(rc), rc2,
           anysock_err_name(rc2), fd0, count_fds());
}

int main(void)
{
    char path[128], big[200];
    struct ev_loop *loop = ev_default_loop(0);
    snprintf(path, sizeof path, "/tmp/atk_a3_%d.sock", getpid());
    srv_case("server tcp ctx_free in prepare", "127.0.0.1", "0", 0);
    srv_case("server unix ctx_free in prepare", "unix/", path, 0);
    srv_case("server abstract ctx_free in prep", "unix/", "@atk_a3_x", 0);
    srv_case("bind tcp ctx_free in prepare", "127.0.0.1", "0", 1);
    srv_case("bind unix ctx_free in prepare", "unix/", path, 1);
    printf("socket file left after all: %s\n", access(path, F_OK) == 0 ? "YES <-- BAD" : "no");
    accept_case(1, 10);
    accept_case(2, 10);
    abs_case("\"@\" (empty)", "@");
    memset(big, 'a', sizeof big); big[0] = '@';
    big[108] = 0; abs_case("@ + 107", big);
    big[109] = 0; big[108] = 'a'; abs_case("@ + 108", big);
    abs_case("@ with bytes \\x01\\xff", "@atk\x01\xff");
    abs_case("@ with space", "@atk a3");
    /* adopt with bad fds */
    anysock_ctx_new(loop, NULL, &ctx);
    int p[2]; pipe(p);
    int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
    printf("adopt pipe %d, udp %d, unlistened tcp %d, fd 9999 %d, fd -1 %d\n",
           anysock_tcp_server_adopt(ctx, p[0], NULL, acb, NULL, &g),
           anysock_tcp_server_adopt(ctx, u, NULL, acb, NULL, &g),
           anysock_tcp_server_adopt(ctx, t, NULL, acb, NULL, &g),
           anysock_tcp_server_adopt(ctx, 9999, NULL, acb, NULL, &g),
           anysock_tcp_server_adopt(ctx, -1, NULL, acb, NULL, &g));
    anysock_ctx_free(ctx);
    return 0;
}
