/* DNS engine: N lookups (resolve_sockaddr of distinct names) against the
 * servers in ANYSOCK_DNS_SERVERS, then: mode "cancel" cancels all at once
 * after one loop iteration, "free" calls ctx_free, "run" lets them end.
 * Prints fds before/after, time of ev_run after the cancel, longest loop
 * iteration, time of ctx_free/cancel.
 * usage: a2_dns_cancel N cancel|free|run [dns_timeout [seconds to run before]] */
#include "common.h"

static int done, bad_after, cancelled_all, st_hist[8];
static void cb(void *d, int st, const anysock_target *t, size_t n)
{
    (void)d; (void)t; (void)n;
    if (cancelled_all) bad_after++;
    done++;
    if (st == 0) st_hist[0]++;
    else if (st == ANYSOCK_EDNSTIMEOUT) st_hist[1]++;
    else if (st == ANYSOCK_ESERVFAIL) st_hist[2]++;
    else if (st == ANYSOCK_EREFUSED) st_hist[3]++;
    else if (st == ANYSOCK_EDNSCONN) st_hist[4]++;
    else if (st == -ENXIO) st_hist[5]++;
    else { st_hist[6]++; if (st_hist[6] < 3) printf("status %d %s\n", st, anysock_strerror(st)); }
}

static void stop_cb(struct ev_loop *l, ev_timer *w, int r) { (void)w; (void)r; ev_break(l, EVBREAK_ALL); }

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    const char *mode = argc > 2 ? argv[2] : "cancel";
    struct ev_loop *loop = ev_default_loop(0);
    anysock_config cfg; anysock_ctx *ctx;
    anysock_guard **g = calloc(n, sizeof *g);
    int fd0 = count_fds(), i, rc;
    char name[64];
    double t;

    anysock_config_init(&cfg);
    if (argc > 3) cfg.dns_timeout = atof(argv[3]);
    if ((rc = anysock_ctx_new(loop, &cfg, &ctx)) < 0) { printf("ctx %d\n", rc); return 2; }
    watch_iterations(loop);
    t = mono();
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof name, "n%d.example.test", i);
        rc = anysock_resolve_sockaddr(ctx, name, "80", "tcp", 0, 0, cb, NULL, &g[i]);
        if (rc < 0) { printf("start %d: %d\n", i, rc); return 2; }
    }
    printf("started %d in %.3fs, fds %d->%d\n", n, mono() - t, fd0, count_fds());
    { ev_timer tm; ev_timer_init(&tm, stop_cb, argc > 4 ? atof(argv[4]) : 0.3, 0.); ev_timer_start(loop, &tm); ev_run(loop, 0); ev_timer_stop(loop, &tm); it_start = 0; }
    anysock_ctx_stats s; memset(&s, 0, sizeof s); s.size = sizeof s;
    anysock_ctx_stats_get(ctx, &s);
    printf("stats: ops_live %zu queued %zu inflight %zu finished %zu\n", s.ops_live, s.dns_queued, s.dns_inflight, s.guards_finished);
    if (!strcmp(mode, "cancel")) {
        t = mono();
        for (i = 0; i < n; i++) anysock_guard_cancel(&g[i]);
        cancelled_all = 1;
        printf("cancel all: %.3fs; fds now %d\n", mono() - t, count_fds());
        it_start = 0; t = mono(); ev_run(loop, 0);
        printf("ev_run after cancel returned in %.3fs; fds %d\n", mono() - t, count_fds());
        anysock_ctx_stats_get(ctx, &s);
        printf("stats: ops_live %zu queued %zu inflight %zu\n", s.ops_live, s.dns_queued, s.dns_inflight);
        anysock_ctx_free(ctx);
    } else if (!strcmp(mode, "free")) {
        t = mono(); anysock_ctx_free(ctx); cancelled_all = 1;
        printf("ctx_free: %.3fs\n", mono() - t);
        it_start = 0; t = mono(); ev_run(loop, 0);
        printf("ev_run after free %.3fs\n", mono() - t);
    } else {
        it_start = 0; t = mono(); ev_run(loop, 0);
        printf("ev_run %.3fs done %d ok %d timeout %d servfail %d refused %d conn %d nxio %d other %d\n",
               mono() - t, done, st_hist[0], st_hist[1], st_hist[2], st_hist[3], st_hist[4], st_hist[5], st_hist[6]);
        for (i = 0; i < n; i++) anysock_guard_cancel(&g[i]);
        anysock_ctx_free(ctx);
    }
    printf("longest iteration %.3fs; fds end %d (start %d); callbacks after cancel %d\n", it_max, count_fds(), fd0, bad_after);
    free(g);
    return 0;
}
