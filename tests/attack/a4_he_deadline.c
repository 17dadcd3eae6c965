/* tcp_connect_ex against black-holed targets (run inside a namespace with
 * nft dropping SYNs: see a4_run.sh), with a deadline; prints when the
 * callback ran, its status, the report rows, the trace, fds, and how long
 * ev_run took to return.
 * usage: a4_he_deadline HOST PORT DEADLINE ATTEMPT_DELAY [PREPARE_TIMEOUT] */
#include "common.h"

static double t0, tcb = -1, ptimeout;
static int st_cb = 1, ncb;
static anysock_guard *g;
static const char *ph[] = {"-", "RESOLVE", "SOCKET", "PREPARE", "CONNECT", "DEADLINE", "CANCEL", "WON"};

static void tr(void *d, const anysock_trace *e)
{
    (void)d;
    char a[64] = "";
    if (e->attempt) anysock_format_address(&e->attempt->addr, a, sizeof a);
    printf("  trace +%.3f (wall +%.3f) ev %d fam %d count %zu status %d %s\n", e->elapsed, mono() - t0, e->event, e->family,
           e->count, e->status, a);
}
static double prep(void *d, int fd) { (void)d; (void)fd; return ptimeout; }
static void ccb(void *d, int st, int fd, const char *h, unsigned p)
{
    (void)d; (void)h; (void)p;
    ncb++; tcb = mono() - t0; st_cb = st;
    if (fd >= 0) close(fd);
    anysock_attempt at[70];
    size_t n = anysock_connect_report(g, at, 70), i;
    printf("callback at +%.3f status %d (%s); report %zu rows\n", tcb, st, anysock_err_name(st), n);
    for (i = 0; i < n && i < 70; i++) {
        char a[64] = "?";
        anysock_format_address(&at[i].addr, a, sizeof a);
        printf("  row %zu fam %d %s port %u status %d (%s) phase %s started %.3f duration %.3f (ends %.3f)\n", i, at[i].family, a,
               at[i].port, at[i].status, anysock_err_name(at[i].status), at[i].phase >= 0 && at[i].phase <= 7 ? ph[at[i].phase] : "??",
               at[i].started, at[i].duration, at[i].started + at[i].duration);
    }
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_ctx *ctx; anysock_connect_opts o;
    int fd0 = count_fds(), rc;
    if (argc < 5) return 2;
    anysock_ctx_new(loop, NULL, &ctx);
    anysock_connect_opts_init(&o);
    o.deadline = atof(argv[3]); o.attempt_delay = atof(argv[4]);
    ptimeout = argc > 5 ? atof(argv[5]) : 0;
    o.trace = tr;
    watch_iterations(loop);
    t0 = mono();
    rc = anysock_tcp_connect_ex(ctx, argv[1], argv[2], &o, ccb, prep, NULL, &g);
    if (rc < 0) { printf("start: %d\n", rc); return 2; }
    ev_run(loop, 0);
    printf("ev_run returned at +%.3f, callbacks %d, longest iteration %.3f\n", mono() - t0, ncb, it_max);
    anysock_guard_cancel(&g);
    anysock_ctx_free(ctx);
    printf("fds %d->%d\n", fd0, count_fds());
    return 0;
}
