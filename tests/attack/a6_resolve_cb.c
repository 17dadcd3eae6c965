/* N lookups that all complete in the same loop iteration (good server, or
 * a numeric/hosts name); inside the K-th callback: mode "free" frees the
 * context, mode "cancelall" cancels every other guard, mode "cancelself"
 * cancels its own guard, "restart" starts N new lookups. Checks callbacks
 * after free/cancel, fds, and ASan.
 * usage: a6_resolve_cb N K MODE [aton] */
#include "common.h"

static anysock_ctx *ctx;
static anysock_guard **g;
static int n, k, ncb, after, dead, aton;
static const char *mode;
static int *cancelled;

static void common(int i)
{
    ncb++;
    if (dead || cancelled[i]) after++;
    if (ncb == k) {
        if (!strcmp(mode, "free")) { anysock_ctx_free(ctx); ctx = NULL; dead = 1; }
        else if (!strcmp(mode, "cancelall")) { for (int j = 0; j < n; j++) if (j != i && g[j]) { anysock_guard_cancel(&g[j]); cancelled[j] = 1; } }
        else if (!strcmp(mode, "cancelself")) { anysock_guard_cancel(&g[i]); cancelled[i] = 1; }
        else if (!strcmp(mode, "freeall")) { for (int j = 0; j < n; j++) if (g[j]) { anysock_guard_cancel(&g[j]); cancelled[j] = 1; } anysock_ctx_free(ctx); ctx = NULL; dead = 1; }
    }
}
static void rcb(void *d, int st, const anysock_target *t, size_t c) { (void)st; (void)t; (void)c; common((int)(long)d); }
static void acb(void *d, int st, const anysock_addr *a, size_t c) { (void)st; (void)a; (void)c; common((int)(long)d); }

int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    int fd0 = count_fds(), i, rc;
    char name[64];
    n = argc > 1 ? atoi(argv[1]) : 100; k = argc > 2 ? atoi(argv[2]) : 1; mode = argc > 3 ? argv[3] : "free";
    aton = argc > 4;
    g = calloc(n, sizeof *g); cancelled = calloc(n, sizeof *cancelled);
    anysock_ctx_new(loop, NULL, &ctx);
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof name, "r%d.test", i);
        rc = aton ? anysock_inet_aton(ctx, name, acb, (void *)(long)i, &g[i])
                  : anysock_resolve_sockaddr(ctx, name, "80", NULL, 0, 0, rcb, (void *)(long)i, &g[i]);
        if (rc < 0) { printf("start %d\n", rc); return 2; }
    }
    double t = mono();
    ev_run(loop, 0);
    if (ctx) { for (i = 0; i < n; i++) anysock_guard_cancel(&g[i]); anysock_ctx_free(ctx); }
    printf("n=%d k=%d mode=%s%s: callbacks %d, after free/cancel %d, run %.3fs, fds %d->%d %s\n", n, k, mode, aton ? " (inet_aton)" : "",
           ncb, after, mono() - t, fd0, count_fds(), after || count_fds() != fd0 ? "<-- BAD" : "ok");
    free(g); free(cancelled);
    return 0;
}
