/* "A callback never runs before the call that set it up returns" and
 * "an error return never calls it": every entry point, with inputs that
 * finish without I/O (literals, localhost, unix/, bad names, nothing
 * allowed by the family filter). */
#include "common.h"

static int in_call, early, calls;
static void rcb(void *d, int st, const anysock_target *t, size_t n) { (void)d; (void)st; (void)t; (void)n; calls++; if (in_call) early++; }
static void acb(void *d, int st, const anysock_addr *a, size_t n) { (void)d; (void)st; (void)a; (void)n; calls++; if (in_call) early++; }
static void ccb(void *d, int st, int fd, const char *h, unsigned p) { (void)d; (void)st; (void)h; (void)p; calls++; if (in_call) early++; if (fd >= 0) close(fd); }

int main(void)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_ctx *ctx; anysock_connect_opts o;
    int lfd, port = listener(AF_INET, &lfd), rc, bad = 0;
    char ps[16], longname[300];
    snprintf(ps, sizeof ps, "%d", port);
    memset(longname, 'a', sizeof longname); longname[299] = 0;
    anysock_ctx_new(loop, NULL, &ctx);
    struct { const char *kind, *node, *svc; int fam; } cases[] = {
        {"resolve", "127.0.0.1", "80", 0}, {"resolve", "::1", "80", 4}, {"resolve", "localhost", "80", 0},
        {"resolve", "unix/", "/tmp/x", 0}, {"resolve", "unix/", "rel", 0}, {"resolve", longname, "80", 0},
        {"resolve", "a..b", "80", 0}, {"resolve", "127.0.0.1", "nosuchservice", 0}, {"resolve", "", "80", 0},
        {"aton", "127.0.0.1", NULL, 0}, {"aton", "localhost", NULL, 0}, {"aton", longname, NULL, 0}, {"aton", "", NULL, 0},
        {"connect", "127.0.0.1", ps, 0}, {"connect", "localhost", ps, 0}, {"connect", "127.0.0.1", ps, 6},
        {"connect", "unix/", "/nonexistent/sock", 0}, {"connect", "127.0.0.1", "nosuchservice", 0},
        {"connect", longname, ps, 0}, {"connect", "", ps, 0}, {"connect", "127.0.0.1", "0", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        anysock_guard *g = NULL;
        calls = early = 0;
        in_call = 1;
        if (!strcmp(cases[i].kind, "resolve"))
            rc = anysock_resolve_sockaddr(ctx, cases[i].node, cases[i].svc, NULL, cases[i].fam, 0, rcb, NULL, &g);
        else if (!strcmp(cases[i].kind, "aton"))
            rc = anysock_inet_aton(ctx, cases[i].node, acb, NULL, &g);
        else {
            anysock_connect_opts_init(&o); o.family = cases[i].fam;
            rc = anysock_tcp_connect_ex(ctx, cases[i].node, cases[i].svc, &o, ccb, NULL, NULL, &g);
        }
        in_call = 0;
        int during = calls;
        ev_run(loop, 0);
        anysock_guard_cancel(&g);
        int wrong = early || (rc < 0 && calls) || (rc == 0 && calls != 1);
        bad += wrong;
        printf("%-8s %-12.12s %-16.16s fam %d: rc %d, callbacks during call %d, total %d %s\n", cases[i].kind, cases[i].node,
               cases[i].svc ? cases[i].svc : "-", cases[i].fam, rc, during, calls, wrong ? "<-- BAD" : "ok");
    }
    anysock_ctx_free(ctx);
    printf("%s\n", bad ? "FAIL" : "OK");
    return bad != 0;
}
