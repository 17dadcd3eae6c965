/* Cancel the guard (mode c) or free the context (mode f) from inside the
 * K-th trace event / prepare_cb / connect_cb of tcp_connect_ex, for every K.
 * usage: a1_trace_cancel HOST (e.g. a name the DNS server of
 * ANYSOCK_DNS_SERVERS answers with 127.0.0.1 and ::1, or 127.0.0.1).
 * A listener runs on ::1 only, so the IPv4 attempt is refused first. */
#include "common.h"

static anysock_ctx *ctx;
static anysock_guard *g;
static int mode, k, nev, cancelled, cb_after;
static const char *where;

static void maybe(const char *w)
{
    if (++nev == k && !cancelled) {
        cancelled = 1; where = w;
        if (mode == 'c') anysock_guard_cancel(&g);
        else { anysock_ctx_free(ctx); ctx = NULL; g = NULL; }
    }
}
static void tr(void *d, const anysock_trace *e) { (void)d; if (getenv("V")) fprintf(stderr, "ev %d fam %d st %d\n", e->event, e->family, e->status); if (cancelled) cb_after++; maybe("trace"); }
static double prep(void *d, int fd) { (void)d; (void)fd; if (cancelled) cb_after++; maybe("prepare"); return 0; }
static int got;
static void ccb(void *d, int st, int fd, const char *h, unsigned p)
{
    (void)d; (void)h; (void)p; (void)st;
    if (cancelled) cb_after++;
    got++; if (getenv("V")) fprintf(stderr, "ccb %d\n", st);
    if (fd >= 0) close(fd);
    maybe("connect_cb");
}

int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    int lfd, port = listener(AF_INET6, &lfd), bad = 0;
    char ps[16];
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    snprintf(ps, sizeof ps, "%d", port);
    for (mode = 'c'; mode <= 'f'; mode += 'f' - 'c') {
        for (k = 1; k < 20; k++) {
            anysock_connect_opts o;
            int fd0 = count_fds(), rc;
            nev = 0; cancelled = 0; cb_after = 0; got = 0; where = "-";
            if (anysock_ctx_new(loop, NULL, &ctx) < 0) return 2;
            anysock_connect_opts_init(&o);
            o.trace = tr; o.flags = ANYSOCK_CONNECT_MPTCP;
            rc = anysock_tcp_connect_ex(ctx, host, ps, &o, ccb, prep, NULL, &g);
            if (rc < 0) { printf("start %d\n", rc); return 2; }
            double t = mono();
            ev_run(loop, 0);
            t = mono() - t;
            if (!cancelled && g) anysock_guard_cancel(&g);
            else if (cancelled && mode == 'c' && g) { printf("guard not NULL after cancel\n"); }
            if (ctx) anysock_ctx_free(ctx);
            ctx = NULL;
            int fd1 = count_fds();
            printf("mode %c k=%d at %-10s events=%d cb_after=%d fds %d->%d run %.3fs%s\n", mode, k, where, nev,
                   cb_after, fd0, fd1, t, (cb_after || fd1 != fd0 || t > 1) ? "  <-- BAD" : "");
            if (cb_after || fd1 != fd0 || t > 1) bad++;
            if (!cancelled) break;
        }
    }
    printf("%s\n", bad ? "FAIL" : "OK");
    return bad != 0;
}
