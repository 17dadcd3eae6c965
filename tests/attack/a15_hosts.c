/* A big hosts file (ANYSOCK_HOSTS; resolve_sockaddr, DNS port closed): time of the first lookup (parse), of
 * N later lookups (a scan each), and the longest loop iteration.
 * usage: ANYSOCK_HOSTS=/tmp/atk_hosts a15_hosts N NAME */
#include "common.h"
static int left;
static int shown; static void acb(void *d, int st, const anysock_target *a, size_t n) { (void)d; (void)a; if (!shown++) printf("status %d (%s) count %zu\n", st, anysock_err_name(st), n); left--; }
int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0); anysock_ctx *ctx; int n = atoi(argv[1]);
    anysock_ctx_new(loop, NULL, &ctx); watch_iterations(loop);
    double t = mono();
    anysock_resolve_sockaddr(ctx, argv[2], "80", NULL, 0, 0, acb, NULL, NULL); left++;
    ev_run(loop, 0);
    printf("first lookup %.3fs, longest iteration %.3fs\n", mono() - t, it_max);
    it_max = 0; t = mono();
    for (int i = 0; i < n; i++) { anysock_resolve_sockaddr(ctx, argv[2], "80", NULL, 0, 0, acb, NULL, NULL); left++; }
    double ts = mono() - t;
    ev_run(loop, 0);
    printf("%d more lookups: start calls %.3fs, run %.3fs, longest iteration %.3fs\n", n, ts, mono() - t - ts, it_max);
    anysock_ctx_free(ctx);
    return 0;
}
