/* Bad options for tcp_connect_ex / tcp_server_ex / ctx_new: each line
 * prints the start call's result and the callback's. Run under ASan. */
#include "common.h"

static int got, st_got;
static void ccb(void *d, int st, int fd, const char *h, unsigned p)
{ (void)d; (void)h; (void)p; got++; st_got = st; if (fd >= 0) close(fd); }
static void acb(void *d, int st, int fd, const char *h, unsigned p)
{ (void)d; (void)h; (void)p; (void)st; if (fd >= 0) close(fd); }
static void stop_cb(struct ev_loop *l, ev_timer *w, int r) { (void)w; (void)r; ev_break(l, EVBREAK_ALL); }

static anysock_ctx *ctx;
static char port[16];
static void try(const char *label, anysock_connect_opts *o, const char *host)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_guard *g = NULL;
    ev_timer tm;
    int fd0 = count_fds();
    got = 0; st_got = 1;
    int rc = anysock_tcp_connect_ex(ctx, host ? host : "127.0.0.1", port, o, ccb, NULL, NULL, &g);
    ev_timer_init(&tm, stop_cb, 2.0, 0.); ev_timer_start(loop, &tm);
    double t = mono();
    if (rc == 0) ev_run(loop, 0);
    ev_timer_stop(loop, &tm);
    anysock_guard_cancel(&g);
    printf("%-40s start %4d %-14s cb %d status %4d %-14s %.3fs fds %d->%d\n", label, rc, anysock_err_name(rc), got, st_got,
           got ? anysock_err_name(st_got) : "", mono() - t, fd0, count_fds());
}

int main(void)
{
    struct ev_loop *loop = ev_default_loop(0);
    anysock_connect_opts o;
    int lfd, p = listener(AF_INET, &lfd);
    snprintf(port, sizeof port, "%d", p);
    anysock_ctx_new(loop, NULL, &ctx);
#define T(label, stmt) do { anysock_connect_opts_init(&o); stmt; try(label, &o, NULL); } while (0)
    T("defaults", (void)0);
    T("deadline NaN", o.deadline = NAN);
    T("deadline -inf", o.deadline = -INFINITY);
    T("deadline +inf", o.deadline = INFINITY);
    T("deadline 1e-300", o.deadline = 1e-300);
    T("deadline DBL_MIN denormal", o.deadline = 5e-324);
    T("attempt_delay NaN", o.attempt_delay = NAN);
    T("attempt_delay 5e-324", o.attempt_delay = 5e-324);
    T("resolution_delay -0.0", o.resolution_delay = -0.0);
    T("size 0", o.size = 0);
    T("size 8 (only size)", o.size = sizeof(size_t));
    T("size SIZE_MAX", o.size = (size_t)-1);
    T("first_family_count INT_MAX", o.first_family_count = 0x7fffffff);
    T("first_family_count -1", o.first_family_count = -1);
    T("family 5", o.family = 5);
    T("protocols \"\"", o.protocols = "");
    T("protocols \"ipv6\" (v4 literal)", o.protocols = "ipv6");
    T("protocols garbage", o.protocols = "ipv4,ipv4,ipv6,x");
    T("flags 0xffffffff", o.flags = 0xffffffffu);
    T("keepalive -1", o.keepalive = -1);
    T("keepidle -5", (o.keepalive = 1, o.keepidle = -5));
    T("keepidle 40000", (o.keepalive = 1, o.keepidle = 40000));
    T("keepcnt 128", (o.keepalive = 1, o.keepcnt = 128));
    T("user_timeout 0xffffffff", o.user_timeout_ms = 0xffffffffu);
    T("user_timeout 0x7fffffff", o.user_timeout_ms = 0x7fffffffu);
    T("bind_addr \"\"", o.bind_addr = "");
    T("bind_addr \"127.0.0.1:\"", o.bind_addr = "127.0.0.1:");
    T("bind_addr \":80\"", o.bind_addr = ":80");
    T("bind_addr \"unix/\"", o.bind_addr = "unix/");
    T("bind_addr \"/tmp/x\"", o.bind_addr = "/tmp/x");
    T("bind_addr \"127.0.0.1:99999\"", o.bind_addr = "127.0.0.1:99999");
    T("bind_addr \"127.0.0.1:-1\"", o.bind_addr = "127.0.0.1:-1");
    T("bind_addr \"127.0.0.1 80\"", o.bind_addr = "127.0.0.1 80");
    T("bind_addr \"127.0.0.1:http\"", o.bind_addr = "127.0.0.1:http");
    T("bind_addr \"::1\" (v4 target)", o.bind_addr = "::1");
    T("bind_addr \"[::ffff:127.0.0.1]:0\"", o.bind_addr = "[::ffff:127.0.0.1]:0");
    T("bind_addr \"127.0.0.5\"", o.bind_addr = "127.0.0.5");
    T("bind_addr \"10.99.99.99\" (not local)", o.bind_addr = "10.99.99.99");
    T("bind_addr port = target's listener", (o.bind_addr = port));
    T("interface \"\"", o.interface = "");
    T("interface \"lo\"", o.interface = "lo");
    T("interface \"nosuchif0\"", o.interface = "nosuchif0");
    T("interface 16 chars", o.interface = "abcdefghijklmnop");
    T("interface \"lo\\n\"", o.interface = "lo\n");
    T("interface \"../lo\"", o.interface = "../lo");
    T("mptcp+fastopen+nodelay+keepalive", (o.flags = 7, o.keepalive = 1, o.keepidle = 1, o.keepintvl = 1, o.keepcnt = 1));
    anysock_connect_opts_init(&o); o.bind_addr = "127.0.0.1"; try("unix/ target with bind_addr", &o, "unix/");
    /* server opts */
    anysock_server_opts so; anysock_guard *g = NULL; int rc;
#define S(label, stmt) do { anysock_server_opts_init(&so); stmt; g = NULL; int f0 = count_fds(); \
    rc = anysock_tcp_server_ex(ctx, "127.0.0.1", "0", &so, acb, NULL, NULL, &g); anysock_guard_cancel(&g); \
    printf("server %-33s rc %4d %-14s fds %d->%d\n", label, rc, anysock_err_name(rc), f0, count_fds()); } while (0)
    S("defaults", (void)0);
    S("size 0", so.size = 0);
    S("size SIZE_MAX", so.size = (size_t)-1);
    S("backlog INT_MAX", so.backlog = 0x7fffffff);
    S("fastopen_qlen INT_MAX", so.fastopen_qlen = 0x7fffffff);
    S("defer_accept INT_MAX", so.defer_accept = 0x7fffffff);
    S("accept_budget INT_MAX", so.accept_budget = 0x7fffffff);
    S("flags 0x80", so.flags = 0x80);
    S("mptcp|v6only on v4", so.flags = ANYSOCK_LISTEN_MPTCP | ANYSOCK_LISTEN_V6ONLY);
    /* config */
    anysock_config c; anysock_ctx *x;
#define C(label, stmt) do { anysock_config_init(&c); stmt; x = NULL; rc = anysock_ctx_new(loop, &c, &x); \
    printf("config %-33s rc %4d %s\n", label, rc, anysock_err_name(rc)); anysock_ctx_free(x); } while (0)
    C("dns_timeout NaN", c.dns_timeout = NAN);
    C("dns_timeout 1e-9", c.dns_timeout = 1e-9);
    C("dns_timeout 3600", c.dns_timeout = 3600);
    C("dns_tries 10 timeout 3600", (c.dns_tries = 10, c.dns_timeout = 3600));
    C("dns_tries -1", c.dns_tries = -1);
    C("dns_max_inflight -1", c.dns_max_inflight = -1);
    C("dns_max_inflight INT_MAX", c.dns_max_inflight = 0x7fffffff);
    C("connect_delay -inf", c.connect_delay = -INFINITY);
    C("dns_servers \"\"", c.dns_servers = "");
    C("dns_servers \",,,\"", c.dns_servers = ",,,");
    C("dns_servers \"127.0.0.1:0\"", c.dns_servers = "127.0.0.1:0");
    C("dns_servers \"127.0.0.1:70000\"", c.dns_servers = "127.0.0.1:70000");
    C("dns_servers \"[::1]:53,unix/\"", c.dns_servers = "[::1]:53,unix/");
    C("hosts_file \"/dev/zero\"", c.hosts_file = "/dev/zero");
    C("protocols \"ipv4,ipv6,ipv4\"", c.protocols = "ipv4,ipv6,ipv4");
    anysock_ctx_free(ctx);
    return 0;
}
