/* Hostile zone (bigdns.py): resolve_sockaddr / inet_aton / tcp_connect_ex
 * of a name with a 64 KiB SRV reply and 64 KiB A/AAAA replies; prints the
 * count, time and the longest loop iteration (bound: 10 ms per reply).
 * usage: ANYSOCK_DNS_SERVERS=127.0.0.62:5301 a10_bigzone resolve|aton|connect [N parallel] */
#include "common.h"

static int left; static size_t total; static int last;
static void rcb(void *d, int st, const anysock_target *t, size_t n) { (void)d; (void)t; last = st; total += n; left--; }
static void acb(void *d, int st, const anysock_addr *a, size_t n) { (void)d; (void)a; last = st; total += n; left--; }
static anysock_guard **gg; static size_t reported;
static void ccb(void *d, int st, int fd, const char *h, unsigned p)
{ (void)h; (void)p; last = st; if (fd >= 0) close(fd); left--; anysock_attempt at[200];
  reported = anysock_connect_report(gg[(long)d], at, 200);
  int ph[9] = {0}; size_t k; for (k = 0; k < reported && k < 200; k++) ph[at[k].phase & 7]++;
  printf("report rows by phase: running %d resolve %d socket %d prepare %d connect %d deadline %d cancel %d won %d\n",
         ph[0], ph[1], ph[2], ph[3], ph[4], ph[5], ph[6], ph[7]);
  for (k = 0; k < reported && k < 200; k++) if (at[k].phase == ANYSOCK_PHASE_RESOLVE || at[k].phase == 0) {
    char a[64] = "-"; anysock_format_address(&at[k].addr, a, sizeof a);
    printf("  row %zu fam %d addr %s status %d (%s) phase %d started %.3f\n", k, at[k].family, a, at[k].status, anysock_err_name(at[k].status), at[k].phase, at[k].started); } }
static int nans, nans_bad; static void tr(void *d, const anysock_trace *e) { (void)d; if (e->event == ANYSOCK_TRACE_ATTEMPT_START) total++; if (e->event == ANYSOCK_TRACE_ANSWER) { nans++; if (e->status) { nans_bad++; printf("  trace ANSWER +%.3f fam %d count %zu status %d (%s)\n", e->elapsed, e->family, e->count, e->status, anysock_err_name(e->status)); } } }
static double prep(void *d, int fd) { (void)d; (void)fd; return 0.001; }

int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_ctx *ctx; int n = argc > 2 ? atoi(argv[2]) : 1, i;
    anysock_guard **g = calloc(n, sizeof *g);
    gg = g;
    anysock_ctx_new(loop, NULL, &ctx);
    watch_iterations(loop);
    double t = mono();
    char name[64];
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof name, "big%d.test", i);
        if (!strcmp(argv[1], "resolve")) anysock_resolve_sockaddr(ctx, name, "http", NULL, 0, 0, rcb, NULL, &g[i]);
        else if (!strcmp(argv[1], "aton")) anysock_inet_aton(ctx, name, acb, NULL, &g[i]);
        else { anysock_connect_opts o; anysock_connect_opts_init(&o); o.trace = tr; o.attempt_delay = 0.001;
            anysock_tcp_connect_ex(ctx, name, "http", &o, ccb, prep, (void *)(long)i, &g[i]); }
        left++;
    }
    ev_run(loop, 0);
    printf("%s x%d: status %d (%s), %zu targets/attempts, %.3fs, longest loop iteration %.1f ms\n", argv[1], n, last,
           anysock_err_name(last), total, mono() - t, it_max * 1000);
    if (!strcmp(argv[1], "connect")) printf("connect_report says %zu attempts; trace ANSWER events %d, with an error %d\n", reported, nans, nans_bad);
    for (i = 0; i < n; i++) anysock_guard_cancel(&g[i]);
    anysock_ctx_free(ctx);
    return 0;
}
