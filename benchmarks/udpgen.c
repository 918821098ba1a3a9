/* Datagram ping-pong load generator: N sockets, each sends a datagram of S bytes
 * to the server and waits for the echo, as fast as it can, for D seconds.
 * Prints one line:
 * "messages=<count> seconds=<elapsed> p50_us=<..> p99_us=<..> total=<..> lost=<..>".
 * Usage: udpgen udp HOST PORT | unixgram PATH  SOCKS SIZE SECONDS [WARMUP]
 * Loopback only: it sends where it is told, and the harness only tells it
 * 127.0.0.1, ::1 or a Unix path. A datagram not echoed within 200 ms counts as
 * lost and is sent again. Bounded in time by SECONDS. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

typedef struct { int fd; double start; } sock_t;

static double now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int open_socket(char **argv, int unix_mode) {
    int fd;
    if (unix_mode) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strncpy(sa.sun_path, argv[2], sizeof sa.sun_path - 1);
        fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        /* A socket file the server can reply to ("PATH.c<n>"): uvloop's bare
         * protocol mangles abstract sender addresses (it reads all 108 bytes of
         * sun_path whatever their length), so it could not echo to those. */
        static int seq = 0;
        struct sockaddr_un me = {.sun_family = AF_UNIX};
        snprintf(me.sun_path, sizeof me.sun_path, "%s.c%d", argv[2], seq++);
        unlink(me.sun_path);
        if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) { perror("bind"); exit(1); }
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); exit(1); }
    } else if (strchr(argv[2], ':')) {
        struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[3]))};
        inet_pton(AF_INET6, argv[2], &sa.sin6_addr);
        fd = socket(AF_INET6, SOCK_DGRAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); exit(1); }
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
        inet_pton(AF_INET, argv[2], &sa.sin_addr);
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); exit(1); }
    }
    /* Sends block (a Unix-domain receiver's queue holds only
     * net.unix.max_dgram_qlen datagrams; the sender waits, nothing is lost);
     * receives do not (MSG_DONTWAIT). One datagram is outstanding per socket,
     * so the server never waits for us. */
    return fd;
}

int main(int argc, char **argv) {
    int unix_mode = argc > 1 && strcmp(argv[1], "unixgram") == 0;
    int base = unix_mode ? 3 : 4;
    if (argc < base + 3) { fprintf(stderr, "usage\n"); return 2; }
    int nsock = atoi(argv[base]); size_t size = (size_t)atol(argv[base + 1]);
    double seconds = atof(argv[base + 2]);
    double warmup = argc > base + 3 ? atof(argv[base + 3]) : 0.5;
    char *out = malloc(size + 1), *in = malloc(65536);
    memset(out, 'x', size);
    int ep = epoll_create1(0);
    sock_t *socks = calloc(nsock, sizeof(sock_t));
    size_t cap = 1 << 22, nlat = 0; double *lat = malloc(cap * sizeof(double));
    for (int i = 0; i < nsock; i++) {
        socks[i].fd = open_socket(argv, unix_mode);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, socks[i].fd, &ev);
    }
    double t0 = now(), measure_from = t0 + warmup, end = measure_from + seconds;
    long count = 0, total = 0, lost = 0;
    for (int i = 0; i < nsock; i++) {
        socks[i].start = now();
        if (send(socks[i].fd, out, size, 0) < 0) { perror("send"); return 1; }
    }
    struct epoll_event evs[256];
    double last_check = t0;
    while (1) {
        double t = now();
        if (t >= end) break;
        if (t - last_check > 0.05) {
            last_check = t;
            for (int i = 0; i < nsock; i++) {
                if (t - socks[i].start > 0.2) {
                    lost++;
                    socks[i].start = t;
                    send(socks[i].fd, out, size, 0);
                }
            }
        }
        int n = epoll_wait(ep, evs, 256, 50);
        for (int k = 0; k < n; k++) {
            sock_t *s = &socks[evs[k].data.u32];
            for (;;) {
                ssize_t r = recv(s->fd, in, 65536, MSG_DONTWAIT);
                if (r < 0) {
                    if (errno == EAGAIN) break;
                    if (errno == ECONNREFUSED) { fprintf(stderr, "server gone\n"); return 1; }
                    perror("recv"); return 1;
                }
                if ((size_t)r != size) { fprintf(stderr, "protocol error: %zd bytes\n", r); return 1; }
                double t2 = now();
                total++;
                if (t2 >= measure_from) {
                    count++;
                    if (nlat < cap) lat[nlat++] = t2 - s->start;
                }
                s->start = t2;
                if (send(s->fd, out, size, 0) < 0) { perror("send"); return 1; }
            }
        }
    }
    double elapsed = now() - measure_from;
    qsort(lat, nlat, sizeof(double), cmp);
    double p50 = nlat ? lat[nlat / 2] * 1e6 : 0, p99 = nlat ? lat[(size_t)(nlat * 0.99)] * 1e6 : 0;
    if (unix_mode) {
        for (int i = 0; i < nsock; i++) {
            char path[sizeof ((struct sockaddr_un *)0)->sun_path];
            snprintf(path, sizeof path, "%s.c%d", argv[2], i);
            unlink(path);
        }
    }
    printf("messages=%ld seconds=%.3f p50_us=%.1f p99_us=%.1f total=%ld lost=%ld\n",
           count, elapsed, p50, p99, total, lost);
    return 0;
}
