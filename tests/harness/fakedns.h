/* A scriptable DNS responder for fault tests: UDP and TCP on 127.0.0.1,
 * one port, served by its own thread. What it does depends on the first
 * label of the question name:
 *   mute      never answers (UDP or TCP)
 *   servfail  rcode 2          nx       rcode 3 (NXDOMAIN)
 *   refused   rcode 5          bad      a reply cut inside its answer
 *   tc        over UDP an empty reply with TC set; over TCP an A record
 *             127.0.0.61
 *   slow      A 127.0.0.62, sent 150 ms after the query arrived
 *   anything else: A 127.0.0.60 (AAAA and others: no data)
 * and, for hostile replies, when the first label not starting with '_'
 * is m<kind>[p<param>] (so "_x._tcp.m3.example" too):
 *   a valid reply to the question (A 127.0.0.63, AAAA 2001:db8::63, SRV
 *   0 0 8080 ok.example) changed as fakedns_mangle says; mt<kind>... sends
 *   an empty reply with TC set over UDP and the changed one over TCP. */
#ifndef FAKEDNS_H
#define FAKEDNS_H

#include <stddef.h>
#include <stdint.h>

typedef struct fakedns fakedns;

/* Returns 0 and the port, or a negated errno. */
int fakedns_start(fakedns **out, uint16_t *port);
/* fakedns_start, then the responder's address as "127.0.0.1:port" in
 * server (for anysock_config.dns_servers). */
int fakedns_start_server(fakedns **out, char *server, size_t len);
/* Stops the thread, closes every socket. */
void fakedns_stop(fakedns *f);
/* Questions received over UDP / TCP, and replies sent (all transports;
 * counted just before the send). */
unsigned fakedns_udp_queries(fakedns *f);
unsigned fakedns_tcp_queries(fakedns *f);
unsigned fakedns_replies(fakedns *f);
/* Length of the last unchanged reply built for qtype 1, 28 or 33 (before
 * its mutation): how far truncations need to go. */
unsigned fakedns_full_len(fakedns *f, unsigned qtype);
/* The last question name received, dotted ("a.example."). */
void fakedns_last_qname(fakedns *f, char *out, size_t outlen);

/* The mutations (the kind in m<kind>p<param>). SRV_* change SRV replies
 * only: A and AAAA questions get the valid reply. */
enum fakedns_mangle {
    FAKEDNS_M_VALID,         /* unchanged */
    FAKEDNS_M_TRUNC,         /* cut to param bytes */
    FAKEDNS_M_BADID,         /* another transaction id */
    FAKEDNS_M_NOQUESTION,    /* qdcount 0, no question section */
    FAKEDNS_M_WRONGQUESTION, /* param 0 name, 1 type, 2 class changed */
    FAKEDNS_M_QDHUGE,        /* qdcount 65535 */
    FAKEDNS_M_ANHUGE,        /* ancount 65535 */
    FAKEDNS_M_NSHUGE,        /* nscount 65535 */
    FAKEDNS_M_ARHUGE,        /* arcount 65535 */
    FAKEDNS_M_PTR_SELF,      /* answer name: a pointer to itself */
    FAKEDNS_M_PTR_PAIR,      /* two pointers pointing at each other */
    FAKEDNS_M_PTR_FWD,       /* a pointer past the end */
    FAKEDNS_M_PTR_HEADER,    /* a pointer to header offset param % 12 */
    FAKEDNS_M_RDLEN_PAST,    /* rdlength 65535 */
    FAKEDNS_M_RDLEN,         /* rdata of param bytes (A: 0/3/5/16...) */
    FAKEDNS_M_WRONGTYPE,     /* 0: A<->AAAA; 1..4: type 16, 0, 65535, 5 */
    FAKEDNS_M_WRONGCLASS,    /* class 3, 255, 0 */
    FAKEDNS_M_CNAME,         /* 0: a two-name loop, 1: self, 2: 40 long */
    FAKEDNS_M_SRV_TARGET,    /* odd SRV target param (fakedns.c) */
    FAKEDNS_M_SRV_PORT0,     /* SRV port 0 */
    FAKEDNS_M_SRV_MANY,      /* param SRV records */
    FAKEDNS_M_FLIP,          /* 1-4 bytes changed, seeded by param */
    FAKEDNS_M_COUNT
};

/* ---- whole-server behaviours, for the engine tests ----------------------
 * FAKEDNS_NORMAL      by label, as above
 * FAKEDNS_SERVFAIL    every question: rcode 2
 * FAKEDNS_REFUSED     every question: rcode 5
 * FAKEDNS_LATE        every UDP question answered as NORMAL would, but
 *                     delay_ms later (up to 8192 waiting; more are dropped)
 * FAKEDNS_MUTE        nothing answered
 * FAKEDNS_LOSSY       every UDP question answered as NORMAL would, except
 *                     delay_ms percent of them, dropped at random (a fixed
 *                     seed: the same questions in the same order lose the
 *                     same ones), as a lossy path would */
enum fakedns_mode {
    FAKEDNS_NORMAL, FAKEDNS_SERVFAIL, FAKEDNS_REFUSED, FAKEDNS_LATE,
    FAKEDNS_MUTE, FAKEDNS_LOSSY
};
void fakedns_set_mode(fakedns *f, enum fakedns_mode mode, unsigned delay_ms);

#endif
