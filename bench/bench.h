/* anysock-bench: shared harness declarations. */
#ifndef ANYSOCK_BENCH_H
#define ANYSOCK_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define BENCH_MAX_SIDES 6

/* One implementation of a workload: runs one round, returns the figure
 * (in the workload's unit) or a negative value when the round failed. */
typedef double (*bench_round_fn)(void *arg);

typedef struct bench_side {
    const char *name;       /* "ours", or the peer's fixed name */
    bench_round_fn round;
    void *arg;
    const char *skip;       /* non-NULL: why this side cannot run */
    /* non-NULL: where each round leaves the CPU time per operation of the
     * side under test (us), for the CPU rows of bench_compare_cpu */
    const double *cpu;
} bench_side;

typedef struct bench_opts {
    bool quick;
    int rounds;             /* A B A B ... rounds, >= 5 */
    int cpu_client, cpu_server; /* -1 when there is only one CPU */
    const char *only;       /* run only this workload, or NULL */
    const char *side;       /* run only this side (profiling), or NULL */
} bench_opts;

/* side[0] is ours; higher_better says how to orient the ratio.
 * Prints the table rows and one BENCH line per peer. */
void bench_compare(const bench_opts *o, const char *workload,
                   const char *unit, bool higher_better, bench_side *sides,
                   int nsides, const char *note);

/* bench_compare, and for the sides with a `cpu` pointer a second table
 * and BENCH lines under cpu_workload (unit us/<cpu_unit>, lower better). */
void bench_compare_cpu(const bench_opts *o, const char *workload,
                       const char *unit, bool higher_better,
                       bench_side *sides, int nsides, const char *note,
                       const char *cpu_workload, const char *cpu_unit,
                       const char *cpu_note);

/* CPU time of the whole process (every thread), seconds. Children (the
 * load generator, dnsmasq) are not included. */
double bench_cpu(void);

/* Move this process into a fresh network namespace with loopback up and,
 * if port_range is not NULL, that ip_local_port_range ("1024 65535").
 * Needs root; false with the reason in why. */
bool bench_new_netns(const char *port_range, char *why, size_t n);

/* Pin the calling thread (and its future children) to cpu; -1: no-op. */
void bench_pin(int cpu);
double bench_now(void);
bool bench_want(const bench_opts *o, const char *workload);

/* Malloc counters (bench/alloc.c): the whole process counts while on. */
typedef struct bench_alloc_stats {
    uint64_t calls;         /* malloc/calloc/realloc/aligned calls */
    int64_t live;           /* usable bytes allocated minus freed */
} bench_alloc_stats;
/* false when built with a sanitizer: nothing is counted then */
bool bench_alloc_available(void);
void bench_alloc_start(void);
void bench_alloc_stop(bench_alloc_stats *out);

/* Workload groups. */
void bench_addr(const bench_opts *o);
void bench_tcp(const bench_opts *o);
void bench_dns(const bench_opts *o);

#endif
