/* anysock-bench: libanysock against the libraries users would pick
 * instead, side by side in one run (issue 6). */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Targets from issue 6, to mark the table; scripts read the BENCH lines. */
static const struct {
    const char *workload, *peer;
    double target;
} targets[] = {
    { "parse-ipv4", "glibc-inet_pton", 1.5 },
    { "parse-ipv6", "glibc-inet_pton", 2.0 },
    { "format-ipv6", "glibc-inet_ntop", 5.0 },
    { "parse-hostport", "libevent-evutil_parse_sockaddr_port", 3.0 },
    /* issue 14 */
    { "parse-ipv4-mixed", "glibc-inet_pton", 1.5 },
    { "parse-ipv6-mixed", "glibc-inet_pton", 2.5 },
    { "format-ipv6-mixed", "glibc-inet_ntop", 5.0 },
    { "parse-hostport-mixed", "libevent-evutil_parse_sockaddr_port", 3.0 },
    { "accept-64", "raw-epoll", 0.95 },
    { "accept-64", "libuv", 0.95 },
    { "connect-64", "raw-epoll", 0.95 },
    { "connect-64", "libuv", 0.95 },
    { "resolve-64", "c-ares", 0.9 },
    { "resolve-64", "getaddrinfo-8threads", 2.5 },
    { "resolve-64", "libuv-uv_getaddrinfo", 4.0 },
    { "resolve-1024", "ours-64", 0.9 },
    { "connect-memory", "libuv", 1.0 },
    /* issue 14: CPU rows are peer/ours */
    { "resolve-64-dual", "c-ares", 1.0 },
    { "resolve-64-dual", "raw-udp", 0.8 },
    { "resolve-cpu", "c-ares", 1.1 },
    { "accept-cpu", "raw-epoll", 0.95 },
    { "accept-cpu", "libuv", 0.95 },
    { "connect-cpu", "raw-epoll", 0.95 },
    { "connect-cpu", "libuv", 0.95 },
    { "accept-allocs", "zero", INFINITY },
};

static double target_for(const char *workload, const char *peer)
{
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(targets[i].workload, workload) == 0 &&
            strcmp(targets[i].peer, peer) == 0)
            return targets[i].target;
    return NAN;
}

double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool bench_new_netns(const char *port_range, char *why, size_t n)
{
    struct ifreq ifr;
    int fd;
    bool ok;

    if (unshare(CLONE_NEWNET) < 0) {
        snprintf(why, n, "unshare: %s (needs root)", strerror(errno));
        return false;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    ok = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        snprintf(why, n, "loopback up: %s", strerror(errno));
        return false;
    }
    if (port_range) {
        /* net.* sysctls belong to the namespace of whoever opens them */
        fd = open("/proc/sys/net/ipv4/ip_local_port_range",
                  O_WRONLY | O_CLOEXEC);
        ok = fd >= 0 && write(fd, port_range, strlen(port_range)) ==
                            (ssize_t)strlen(port_range);
        if (fd >= 0)
            close(fd);
        if (!ok) {
            snprintf(why, n, "ip_local_port_range: %s", strerror(errno));
            return false;
        }
    }
    return true;
}

void bench_pin(int cpu)
{
    cpu_set_t set;

    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        perror("anysock-bench: sched_setaffinity");
}

bool bench_want(const bench_opts *o, const char *workload)
{
    return o->only == NULL || strcmp(o->only, workload) == 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median of the rounds that succeeded (NAN when none did). */
static double median(const double *v, int n, double *lo, double *hi)
{
    double s[64];
    int k = 0;

    for (int i = 0; i < n && k < 64; i++)
        if (!isnan(v[i]))
            s[k++] = v[i];
    if (k == 0) {
        *lo = *hi = NAN;
        return NAN;
    }
    qsort(s, (size_t)k, sizeof s[0], cmp_double);
    *lo = s[0];
    *hi = s[k - 1];
    return k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
}

static void fmt_value(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "nan");
    else if (v == 0 || fabs(v) >= 100)
        snprintf(buf, n, "%.0f", v);
    else if (fabs(v) < 1)
        snprintf(buf, n, "%.4f", v);
    else
        snprintf(buf, n, "%.2f", v);
}

static void fmt_ratio(char *buf, size_t n, double ours, double peer,
                      bool higher_better)
{
    double r;

    if (isnan(ours) || isnan(peer)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (higher_better)
        r = peer == 0 ? (ours > 0 ? INFINITY : NAN) : ours / peer;
    else
        r = ours <= peer && peer == 0 ? INFINITY
            : ours == 0 ? INFINITY : peer / ours;
    if (isinf(r))
        snprintf(buf, n, "inf");
    else if (isnan(r))
        snprintf(buf, n, "nan");
    else    /* 3 decimals: 0.948 must not print as a passing 0.95 */
        snprintf(buf, n, "%.3f", r);
}

/* The table rows and BENCH lines of one workload from per-round values. */
static void report(const char *workload, const char *unit,
                   bool higher_better, bench_side *sides, int nsides,
                   double vals[][64], int rounds, const char *note)
{
    double med[BENCH_MAX_SIDES], lo[BENCH_MAX_SIDES], hi[BENCH_MAX_SIDES];
    char a[32], b[32], c[32], r[32];

    for (int s = 0; s < nsides; s++)
        med[s] = median(vals[s], rounds, &lo[s], &hi[s]);

    for (int s = 0; s < nsides; s++) {
        fmt_value(a, sizeof a, med[s]);
        fmt_value(b, sizeof b, lo[s]);
        fmt_value(c, sizeof c, hi[s]);
        if (s == 0) {
            printf("%-20s %-36s %12s %12s %12s %-9s\n", workload,
                   sides[s].name, a, b, c, unit);
            if (sides[s].skip)
                printf("%-20s   skipped: %s\n", "", sides[s].skip);
            continue;
        }
        fmt_ratio(r, sizeof r, med[0], med[s], higher_better);
        double t = target_for(workload, sides[s].name);
        double rv = strcmp(r, "inf") == 0 ? INFINITY : atof(r);
        const char *verdict = isnan(t) ? "" :
            (isinf(t) ? (isinf(rv) ? "met" : "MISSED")
                      : (rv >= t ? "met" : "MISSED"));
        char tt[32];

        if (isnan(t))   /* an information row: no target */
            snprintf(tt, sizeof tt, "none");
        else if (isinf(t))
            snprintf(tt, sizeof tt, "inf");
        else
            snprintf(tt, sizeof tt, ">= %.2f", t);
        printf("%-20s %-36s %12s %12s %12s %-9s ratio %s (target %s) %s\n",
               "", sides[s].name, a, b, c, unit, r, tt, verdict);
        if (sides[s].skip)
            printf("%-20s   skipped: %s\n", "", sides[s].skip);
    }
    if (note)
        printf("%-20s   note: %s\n", "", note);
    for (int s = 1; s < nsides; s++) {
        fmt_value(a, sizeof a, med[0]);
        fmt_value(b, sizeof b, med[s]);
        fmt_ratio(r, sizeof r, med[0], med[s], higher_better);
        printf("BENCH %s ours=%s peer=%s:%s ratio=%s unit=%s\n", workload,
               a, sides[s].name, b, r, unit);
    }
    fflush(stdout);
}

void bench_compare_cpu(const bench_opts *o, const char *workload,
                       const char *unit, bool higher_better,
                       bench_side *sides, int nsides, const char *note,
                       const char *cpu_workload, const char *cpu_unit,
                       const char *cpu_note)
{
    double vals[BENCH_MAX_SIDES][64], cpu[BENCH_MAX_SIDES][64];
    int rounds = o->rounds > 64 ? 64 : o->rounds;
    bench_side cs[BENCH_MAX_SIDES];
    int ncs = 0;
    char cu[32];

    /* A B A B ...: every side runs once per round, so slow drifts of the
     * machine hit all sides alike; the median drops the outliers. Round -1
     * is a warm-up (first-use allocations, page faults) and not recorded;
     * the order rotates so no side always runs right after the same one. */
    for (int i = -1; i < rounds; i++)
        for (int k = 0; k < nsides; k++) {
            int s = (k + (i < 0 ? 0 : i)) % nsides;
            bool run = sides[s].skip == NULL &&
                       (o->side == NULL ||
                        strcmp(o->side, sides[s].name) == 0);
            double v = run ? sides[s].round(sides[s].arg) : NAN;

            if (i < 0)
                continue;
            vals[s][i] = v < 0 ? NAN : v;
            cpu[s][i] = isnan(vals[s][i]) || sides[s].cpu == NULL
                            ? NAN : *sides[s].cpu;
        }
    report(workload, unit, higher_better, sides, nsides, vals, rounds, note);
    if (cpu_workload == NULL)
        return;
    /* the CPU rows: the sides that measured it, ours first */
    for (int s = 0; s < nsides; s++)
        if (sides[s].cpu) {
            cs[ncs] = sides[s];
            memcpy(vals[ncs], cpu[s], sizeof cpu[s]);
            ncs++;
        }
    snprintf(cu, sizeof cu, "us/%s", cpu_unit);
    if (ncs > 1)
        report(cpu_workload, cu, false, cs, ncs, vals, rounds, cpu_note);
}

void bench_compare(const bench_opts *o, const char *workload,
                   const char *unit, bool higher_better, bench_side *sides,
                   int nsides, const char *note)
{
    bench_compare_cpu(o, workload, unit, higher_better, sides, nsides, note,
                      NULL, NULL, NULL);
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: anysock-bench [--quick] [--rounds N] [--only WORKLOAD]\n"
        "  --quick      every workload in at most 3 minutes on 2 cores\n"
        "  --rounds N   A B A B rounds per workload (>= 5; default 7 quick,"
        " 15 full)\n"
        "  --only W     run one workload (parse-ipv4, accept-64, ...; a CPU\n"
        "               row comes with its throughput row: --only accept-64)\n"
        "  --side S     run only implementation S (\"ours\"; for profiling)\n"
        "Run as root for the resolve rows: the bench unshares a network and\n"
        "mount namespace so glibc and libuv can reach its dnsmasq on :53.\n");
}

int main(int argc, char **argv)
{
    bench_opts o = { .quick = false, .rounds = 0, .cpu_client = -1,
                     .cpu_server = -1, .only = NULL, .side = NULL };
    cpu_set_t set;
    int cpus[2], ncpu = 0;
    double t0 = bench_now();
    char date[64];
    time_t now = time(NULL);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            o.quick = true;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            o.rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            o.only = argv[++i];
        } else if (strcmp(argv[i], "--side") == 0 && i + 1 < argc) {
            o.side = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (o.rounds == 0)
        o.rounds = o.quick ? 7 : 15;
    if (o.rounds < 5 || o.rounds > 64) {
        fprintf(stderr, "anysock-bench: --rounds must be 5..64\n");
        return 2;
    }
    /* Client and server on different CPUs: the first two we may use. */
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && ncpu < 2; c++)
            if (CPU_ISSET(c, &set))
                cpus[ncpu++] = c;
    if (ncpu == 2) {
        o.cpu_client = cpus[0];
        o.cpu_server = cpus[1];
    }
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("anysock-bench %s, %s, %d rounds A B A B (+1 warm-up), median; "
           "client cpu %d, server cpu %d; %ld cpus online\n",
           o.quick ? "--quick" : "full", date, o.rounds, o.cpu_client,
           o.cpu_server, sysconf(_SC_NPROCESSORS_ONLN));
    if (!bench_alloc_available())
        printf("sanitizer build: the figures below mean nothing\n");
    printf("%-20s %-36s %12s %12s %12s %-9s\n", "workload", "implementation",
           "median", "min", "max", "unit");
    fflush(stdout);

    bench_pin(o.cpu_client);
    bench_addr(&o);
    bench_tcp(&o);
    bench_dns(&o);
    printf("total %.1f s\n", bench_now() - t0);
    return 0;
}
