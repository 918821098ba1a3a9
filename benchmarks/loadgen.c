/* Ping-pong load generator: N connections, each sends a message of S bytes and
 * waits for S bytes back, as fast as it can, for D seconds. Prints one line:
 * "messages=<count> seconds=<elapsed> p50_us=<..> p99_us=<..>".
 * Usage: loadgen tcp HOST PORT | unix PATH  CONNS SIZE SECONDS [WARMUP]
 * Loopback only: it connects where it is told, and the harness only tells it
 * 127.0.0.1, ::1 or a Unix path. Bounded in time by SECONDS. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

typedef struct { int fd; size_t sent, got; double start; } conn_t;

static double now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int unix_mode = argc > 1 && strcmp(argv[1], "unix") == 0;
    int base = unix_mode ? 3 : 4;
    if (argc < base + 3) { fprintf(stderr, "usage\n"); return 2; }
    int nconn = atoi(argv[base]); size_t size = (size_t)atol(argv[base + 1]);
    double seconds = atof(argv[base + 2]);
    double warmup = argc > base + 3 ? atof(argv[base + 3]) : 0.5;
    char *out = malloc(size), *in = malloc(size > 65536 ? size : 65536);
    memset(out, 'x', size);
    int ep = epoll_create1(0);
    conn_t *conns = calloc(nconn, sizeof(conn_t));
    size_t cap = 1 << 22, nlat = 0; double *lat = malloc(cap * sizeof(double));
    for (int i = 0; i < nconn; i++) {
        int fd;
        if (unix_mode) {
            struct sockaddr_un sa = {.sun_family = AF_UNIX};
            strncpy(sa.sun_path, argv[2], sizeof sa.sun_path - 1);
            fd = socket(AF_UNIX, SOCK_STREAM, 0);
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
        } else if (strchr(argv[2], ':')) {
            struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[3]))};
            inet_pton(AF_INET6, argv[2], &sa.sin6_addr);
            fd = socket(AF_INET6, SOCK_STREAM, 0);
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
        } else {
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
            inet_pton(AF_INET, argv[2], &sa.sin_addr);
            fd = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
            int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    double t0 = now(), measure_from = t0 + warmup, end = measure_from + seconds;
    long count = 0, total = 0;
    for (int i = 0; i < nconn; i++) {
        conns[i].start = now();
        ssize_t n = write(conns[i].fd, out, size);
        conns[i].sent = n > 0 ? n : 0;
        conns[i].got = 0;
    }
    struct epoll_event evs[256];
    while (1) {
        double t = now();
        if (t >= end) break;
        int n = epoll_wait(ep, evs, 256, 100);
        for (int k = 0; k < n; k++) {
            conn_t *c = &conns[evs[k].data.u32];
            if (c->sent < size) {
                ssize_t w = write(c->fd, out + c->sent, size - c->sent);
                if (w > 0) c->sent += w;
            }
            ssize_t r = read(c->fd, in, size > 65536 ? 65536 : size);
            if (r == 0) { fprintf(stderr, "server closed\n"); return 1; }
            if (r < 0) { if (errno == EAGAIN) continue; perror("read"); return 1; }
            c->got += r;
            if (c->got >= size) {
                if (c->got > size) { fprintf(stderr, "protocol error\n"); return 1; }
                double t2 = now();
                total++;
                if (t2 >= measure_from) {
                    count++;
                    if (nlat < cap) lat[nlat++] = t2 - c->start;
                }
                c->start = t2; c->got = 0;
                ssize_t w = write(c->fd, out, size);
                c->sent = w > 0 ? w : 0;
            } else if (c->sent < size) {
                ssize_t w = write(c->fd, out + c->sent, size - c->sent);
                if (w > 0) c->sent += w;
            }
        }
    }
    double elapsed = now() - measure_from;
    qsort(lat, nlat, sizeof(double), cmp);
    double p50 = nlat ? lat[nlat / 2] * 1e6 : 0, p99 = nlat ? lat[(size_t)(nlat * 0.99)] * 1e6 : 0;
    printf("messages=%ld seconds=%.3f p50_us=%.1f p99_us=%.1f total=%ld\n", count, elapsed, p50, p99, total);
    return 0;
}
