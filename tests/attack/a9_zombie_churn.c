/* One live lookup L while other lookups are started and cancelled (each
 * after it has been sent) in a steady churn: does L still move on from a
 * mute first server to the good second one after one timeout?
 * usage: ANYSOCK_DNS_SERVERS=MUTE,GOOD a9_zombie_churn CHURN_PER_TICK [TICK_S [MAX_INFLIGHT]]
 * (CHURN 0 is the control). Optional 3rd arg: dns_max_inflight. */
#include "common.h"

static anysock_ctx *ctx;
static anysock_guard *lg, *cg[1000];
static int churn, nc, seq, lst = 1;
static double t0, tl = -1;
static void lcb(void *d, int st, const anysock_target *t, size_t n)
{ (void)d; (void)t; (void)n; tl = mono() - t0; lst = st; ev_break(ev_default_loop(0), EVBREAK_ALL); }
static void ccb(void *d, int st, const anysock_target *t, size_t n) { (void)d; (void)st; (void)t; (void)n; }
static void tick(struct ev_loop *l, ev_timer *w, int r)
{
    (void)l; (void)w; (void)r;
    char name[64];
    for (int i = 0; i < nc; i++) anysock_guard_cancel(&cg[i]);
    nc = 0;
    for (int i = 0; i < churn; i++) {
        snprintf(name, sizeof name, "z%d.test", seq++);
        anysock_resolve_sockaddr(ctx, name, "80", NULL, 4, 0, ccb, NULL, &cg[nc++]);
    }
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    ev_timer tm;
    churn = argc > 1 ? atoi(argv[1]) : 10;
    double tickt = argc > 2 ? atof(argv[2]) : 0.1;
    anysock_config cfg; anysock_config_init(&cfg);
    if (argc > 3) cfg.dns_max_inflight = atoi(argv[3]);   /* zombie cap is max(16, this) */
    anysock_ctx_new(loop, &cfg, &ctx);
    t0 = mono();
    anysock_resolve_sockaddr(ctx, "live.test", "80", NULL, 4, 0, lcb, NULL, &lg);
    ev_timer_init(&tm, tick, tickt, tickt); ev_timer_start(loop, &tm);
    ev_run(loop, 0);
    ev_timer_stop(loop, &tm);
    for (int i = 0; i < nc; i++) anysock_guard_cancel(&cg[i]);
    anysock_ctx_stats s; memset(&s, 0, sizeof s); s.size = sizeof s;
    anysock_ctx_stats_get(ctx, &s);
    printf("churn %d per %.2fs: live lookup ended at +%.3fs status %d (%s); cancelled lookups %d\n", churn, tickt, tl, lst,
           anysock_err_name(lst), seq);
    anysock_guard_cancel(&lg);
    anysock_ctx_free(ctx);
    return 0;
}
