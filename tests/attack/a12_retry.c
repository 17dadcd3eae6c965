/* anysock_tcp_connect_retry from inside connect_cb, combined with a cancel
 * or ctx_free in the same callback, and retry until nothing is left.
 * Needs a DNS server answering A 127.0.0.1 + AAAA ::1 (dnsd.py good) in
 * ANYSOCK_DNS_SERVERS; listeners on both.
 * usage: a12_retry */
#include "common.h"
#include <fcntl.h>

static void show(const char *w)
{
    extern anysock_ctx *ctx;
    if (!ctx) return;
    anysock_ctx_stats s; memset(&s, 0, sizeof s); s.size = sizeof s; anysock_ctx_stats_get(ctx, &s);
    printf("  [%s] stats: ops_live %zu finished %zu queued %zu inflight %zu servers %zu attempts %zu fds %d\n", w,
           s.ops_live, s.guards_finished, s.dns_queued, s.dns_inflight, s.servers, s.attempts, count_fds());
}
static void hang_cb(struct ev_loop *l, ev_timer *w, int r) { (void)w; (void)r; show("after 2 s"); printf("  loop still alive after 2 s: breaking <-- BAD\n"); ev_break(l, EVBREAK_ALL); }
anysock_ctx *ctx; static anysock_guard *g;
static int mode, ncb, in_cb, reentered, st_last, rr_last;
static void ccb(void *d, int st, int fd, const char *h, unsigned p)
{
    (void)d; (void)p;
    if (in_cb) reentered++;
    in_cb = 1; ncb++; st_last = st;
    if (getenv("V")) printf("  cb %d status %d host %s\n", ncb, st, h ? h : "-");
    if (fd >= 0) close(fd);
    if (st == 0) {
        rr_last = anysock_tcp_connect_retry(g);
        if (mode == 1) anysock_guard_cancel(&g);
        if (mode == 2) { anysock_ctx_free(ctx); ctx = NULL; g = NULL; }
        if (mode == 3) rr_last = anysock_tcp_connect_retry(g);   /* twice */
    }
    if (st != 0) show("in final cb");
    in_cb = 0;
}

int main(void)
{
    struct ev_loop *loop = ev_default_loop(0);
    int l4, l6, p = listener(AF_INET, &l4);
    /* same port on ::1 */
    l6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 s6 = {0}; s6.sin6_family = AF_INET6; s6.sin6_addr = in6addr_loopback; s6.sin6_port = htons(p);
    if (bind(l6, (void *)&s6, sizeof s6) < 0 || listen(l6, 10) < 0) { perror("l6"); return 2; }
    char ps[16]; snprintf(ps, sizeof ps, "%d", p);
    setvbuf(stdout, NULL, _IONBF, 0);
    for (mode = 0; mode < 4; mode++) {
        int fd0 = count_fds();
        ncb = reentered = 0; st_last = 1; rr_last = 99;
        anysock_ctx_new(loop, NULL, &ctx);
        anysock_tcp_connect(ctx, "two.test", ps, ccb, NULL, NULL, &g);
        double t = mono();
        ev_timer hang; ev_timer_init(&hang, hang_cb, 2., 0.); ev_timer_start(loop, &hang); ev_unref(loop);
        ev_run(loop, 0);
        ev_ref(loop); ev_timer_stop(loop, &hang);
        if (ctx) { anysock_guard_cancel(&g); anysock_ctx_free(ctx); }
        /* drain the listeners' accept queues */
        int c; fcntl(l4, F_SETFL, O_NONBLOCK); fcntl(l6, F_SETFL, O_NONBLOCK);
        while ((c = accept(l4, NULL, NULL)) >= 0) close(c);
        while ((c = accept(l6, NULL, NULL)) >= 0) close(c);
        printf("mode %d: callbacks %d (re-entered %d), last status %d (%s), last retry rc %d, run %.3fs, fds %d->%d\n", mode, ncb,
               reentered, st_last, anysock_err_name(st_last), rr_last, mono() - t, fd0, count_fds());
    }
    return 0;
}
