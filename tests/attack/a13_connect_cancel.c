/* tcp_connect_ex (with a deadline and a trace) still resolving against a
 * mute server, or attempting to a black-holed target (run inside a4_run.sh's
 * kind of namespace), cancelled after T seconds: fds back, ev_run returns at once.
 * usage: a13_connect_cancel HOST PORT T [N parallel] */
#include "common.h"
static int after;
static void ccb(void *d, int st, int fd, const char *h, unsigned p) { (void)d; (void)st; (void)h; (void)p; after++; if (fd >= 0) close(fd); }
static void tr(void *d, const anysock_trace *e) { (void)d; (void)e; }
static void stop_cb(struct ev_loop *l, ev_timer *w, int r) { (void)w; (void)r; ev_break(l, EVBREAK_ALL); }
int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0); setvbuf(stdout, NULL, _IONBF, 0);
    anysock_ctx *ctx; int n = argc > 4 ? atoi(argv[4]) : 1, i, fd0 = count_fds();
    anysock_guard **g = calloc(n, sizeof *g);
    anysock_ctx_new(loop, NULL, &ctx);
    for (i = 0; i < n; i++) {
        anysock_connect_opts o; anysock_connect_opts_init(&o); o.deadline = 30; o.trace = tr; o.attempt_delay = 0.05;
        char name[64]; snprintf(name, sizeof name, "%s%s%d", argv[1], n > 1 ? "." : "", n > 1 ? i : 0);
        if (n == 1) snprintf(name, sizeof name, "%s", argv[1]);
        anysock_tcp_connect_ex(ctx, name, argv[2], &o, ccb, NULL, NULL, &g[i]);
    }
    ev_timer tm; ev_timer_init(&tm, stop_cb, atof(argv[3]), 0.); ev_timer_start(loop, &tm); ev_run(loop, 0);
    anysock_ctx_stats s; memset(&s, 0, sizeof s); s.size = sizeof s; anysock_ctx_stats_get(ctx, &s);
    printf("before cancel: fds %d, ops_live %zu inflight %zu attempts %zu, callbacks %d\n", count_fds(), s.ops_live, s.dns_inflight, s.attempts, after);
    for (i = 0; i < n; i++) anysock_guard_cancel(&g[i]);
    after = 0;
    double t = mono(); ev_run(loop, 0);
    anysock_ctx_stats_get(ctx, &s);
    printf("after cancel: ev_run returned in %.3fs, fds %d (start %d), ops_live %zu inflight %zu attempts %zu, callbacks after cancel %d\n",
           mono() - t, count_fds(), fd0, s.ops_live, s.dns_inflight, s.attempts, after);
    anysock_ctx_free(ctx); free(g);
    return 0;
}
