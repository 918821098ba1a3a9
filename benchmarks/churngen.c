/* Connection churn load generator: K clients at once, each connects, sends one
 * message of S bytes, waits for S bytes back, closes, and starts again, for D
 * seconds. Prints one line:
 * "messages=<connections> seconds=<elapsed> p50_us=<..> p99_us=<..> total=<..> failed=<..>"
 * where messages counts whole connect-exchange-close cycles in the measured
 * window, total those since the start (warm-up included), and the latencies are
 * of whole cycles (socket() to close()).
 * Usage: churngen tcp HOST PORT  CLIENTS SIZE SECONDS [WARMUP]
 * Loopback only: it connects where it is told, and the harness only tells it
 * 127.0.0.1 or ::1. Over IPv4 each client binds a source address of its own in
 * 127.0.0.2-127.0.0.17 (all loopback) so that the TIME_WAIT states the client
 * side leaves behind never run a source-port range dry. A cycle that has not
 * finished in 2 s is abandoned and counted as failed. Bounded in time. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

typedef struct { int fd; int connected; size_t got; double start; } client_t;

static struct sockaddr_storage server;
static socklen_t server_len;
static int ep, v6;
static char *out, *in;
static size_t size;
static unsigned source_seq;
static long failed;  /* cycles abandoned: refused, reset, timed out, no port */

static double now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Start a new cycle for client i; 0 on success. */
static int start(client_t *c, unsigned i) {
    c->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) { perror("socket"); return -1; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!v6) {
        struct sockaddr_in me = {.sin_family = AF_INET};
        me.sin_addr.s_addr = htonl(0x7f000002 + (source_seq++ % 16));
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        bind(c->fd, (struct sockaddr *)&me, sizeof me);
    }
    c->connected = 0; c->got = 0; c->start = now();
    if (connect(c->fd, (struct sockaddr *)&server, server_len) < 0 && errno != EINPROGRESS) {
        close(c->fd); c->fd = -1; failed++;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 7 || strcmp(argv[1], "tcp") != 0) {
        fprintf(stderr, "usage: churngen tcp HOST PORT CLIENTS SIZE SECONDS [WARMUP]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    v6 = strchr(argv[2], ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&server;
        sa->sin6_family = AF_INET6; sa->sin6_port = htons(atoi(argv[3]));
        inet_pton(AF_INET6, argv[2], &sa->sin6_addr);
        server_len = sizeof *sa;
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)&server;
        sa->sin_family = AF_INET; sa->sin_port = htons(atoi(argv[3]));
        inet_pton(AF_INET, argv[2], &sa->sin_addr);
        server_len = sizeof *sa;
    }
    int nclients = atoi(argv[4]);
    size = (size_t)atol(argv[5]);
    double seconds = atof(argv[6]);
    double warmup = argc > 7 ? atof(argv[7]) : 0.5;
    out = malloc(size); in = malloc(size);
    memset(out, 'x', size);
    ep = epoll_create1(0);
    client_t *clients = calloc(nclients, sizeof(client_t));
    size_t cap = 1 << 22, nlat = 0; double *lat = malloc(cap * sizeof(double));
    long count = 0, total = 0;
    double t0 = now(), measure_from = t0 + warmup, end = measure_from + seconds;
    double last_check = t0;
    for (int i = 0; i < nclients; i++) {
        if (start(&clients[i], i) < 0) { perror("connect"); return 1; }
    }
    struct epoll_event evs[256];
    while (1) {
        double t = now();
        if (t >= end) break;
        if (t - last_check > 0.1) {
            last_check = t;
            for (int i = 0; i < nclients; i++) {
                client_t *c = &clients[i];
                if (c->fd < 0 || t - c->start > 2.0) {
                    if (c->fd >= 0) { close(c->fd); failed++; }
                    start(c, i);
                }
            }
        }
        int n = epoll_wait(ep, evs, 256, 50);
        for (int k = 0; k < n; k++) {
            unsigned i = evs[k].data.u32;
            client_t *c = &clients[i];
            if (c->fd < 0) continue;
            if (!c->connected) {
                int err = 0; socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) { close(c->fd); failed++; start(c, i); continue; }
                c->connected = 1;
                if (write(c->fd, out, size) != (ssize_t)size) {
                    close(c->fd); failed++; start(c, i); continue;
                }
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            ssize_t r = read(c->fd, in, size - c->got);
            if (r < 0 && errno == EAGAIN) continue;
            if (r <= 0) { close(c->fd); failed++; start(c, i); continue; }
            c->got += (size_t)r;
            if (c->got < size) continue;
            close(c->fd);
            double t2 = now();
            total++;
            if (t2 >= measure_from) {
                count++;
                if (nlat < cap) lat[nlat++] = t2 - c->start;
            }
            start(c, i);
        }
    }
    double elapsed = now() - measure_from;
    qsort(lat, nlat, sizeof(double), cmp);
    double p50 = nlat ? lat[nlat / 2] * 1e6 : 0, p99 = nlat ? lat[(size_t)(nlat * 0.99)] * 1e6 : 0;
    printf("messages=%ld seconds=%.3f p50_us=%.1f p99_us=%.1f total=%ld failed=%ld\n",
           count, elapsed, p50, p99, total, failed);
    return 0;
}
