/* The physical reference: a small single-threaded epoll echo server in C.
 * Usage: echo_server tcp HOST PORT | unix PATH | udp HOST PORT | unixgram PATH
 * Prints "READY <port or path>" once it listens, then echoes until killed.
 * Streams: read what is there (up to 256 KiB), write it back; what the kernel
 * does not take at once is kept and the connection stops reading until it is
 * written (bounded memory, like the Python servers' flow control). TCP_NODELAY
 * is set on accepted TCP connections, as uvloop and asyncio do.
 * Datagrams: every queued datagram is read and sent back per readable event.
 * The harness binds it to 127.0.0.1, ::1 or a Unix path only. */
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
#include <sys/un.h>
#include <unistd.h>

#define BUFSIZE (256 * 1024)

typedef struct {
    char *pending;       /* bytes the kernel did not take yet, or NULL */
    size_t off, len;
} conn_t;

static conn_t **conns;   /* indexed by descriptor */
static size_t nconns;
static char buf[BUFSIZE];

static conn_t *conn_for(int fd) {
    if ((size_t)fd >= nconns) {
        size_t n = nconns ? nconns : 1024;
        while (n <= (size_t)fd) n *= 2;
        conns = realloc(conns, n * sizeof *conns);
        memset(conns + nconns, 0, (n - nconns) * sizeof *conns);
        nconns = n;
    }
    if (!conns[fd]) conns[fd] = calloc(1, sizeof(conn_t));
    return conns[fd];
}

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    if ((size_t)fd < nconns && conns[fd]) {
        free(conns[fd]->pending);
        free(conns[fd]);
        conns[fd] = NULL;
    }
}

static int bind_socket(int argc, char **argv, int *type, int *family) {
    const char *kind = argv[1];
    int stream = strcmp(kind, "tcp") == 0 || strcmp(kind, "unix") == 0;
    int local = strcmp(kind, "unix") == 0 || strcmp(kind, "unixgram") == 0;
    *type = stream ? SOCK_STREAM : SOCK_DGRAM;
    int fd;
    if (local) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strncpy(sa.sun_path, argv[2], sizeof sa.sun_path - 1);
        unlink(argv[2]);
        *family = AF_UNIX;
        fd = socket(AF_UNIX, *type | SOCK_NONBLOCK, 0);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); exit(1); }
    } else {
        if (argc < 4) { fprintf(stderr, "usage\n"); exit(2); }
        int one = 1;
        if (strchr(argv[2], ':')) {
            struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[3]))};
            inet_pton(AF_INET6, argv[2], &sa.sin6_addr);
            *family = AF_INET6;
            fd = socket(AF_INET6, *type | SOCK_NONBLOCK, 0);
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); exit(1); }
        } else {
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
            inet_pton(AF_INET, argv[2], &sa.sin_addr);
            *family = AF_INET;
            fd = socket(AF_INET, *type | SOCK_NONBLOCK, 0);
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); exit(1); }
        }
    }
    if (stream && listen(fd, 4096) < 0) { perror("listen"); exit(1); }
    if (local) {
        printf("READY %s\n", argv[2]);
    } else {
        struct sockaddr_storage ss; socklen_t len = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &len);
        int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        printf("READY %d\n", port);
    }
    fflush(stdout);
    return fd;
}

/* Write what is pending; 1 when all is written, 0 when the kernel is full,
 * -1 on error. */
static int flush_pending(conn_t *c, int fd) {
    while (c->off < c->len) {
        ssize_t w = write(fd, c->pending + c->off, c->len - c->off);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        c->off += (size_t)w;
    }
    free(c->pending); c->pending = NULL; c->off = c->len = 0;
    return 1;
}

static void on_stream(int ep, int fd, unsigned events) {
    conn_t *c = conn_for(fd);
    if (c->pending) {
        int r = flush_pending(c, fd);
        if (r < 0) { drop(ep, fd); return; }
        if (r == 0) return;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        if (!(events & EPOLLIN)) return;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN)) { drop(ep, fd); return; }
    if (n < 0) return;
    ssize_t w = write(fd, buf, (size_t)n);
    if (w < 0) {
        if (errno != EAGAIN) { drop(ep, fd); return; }
        w = 0;
    }
    if (w < n) {
        c->pending = malloc((size_t)(n - w));
        memcpy(c->pending, buf + w, (size_t)(n - w));
        c->off = 0; c->len = (size_t)(n - w);
        struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
}

static void on_datagrams(int fd) {
    for (;;) {
        struct sockaddr_storage from; socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 0) return;
        sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: echo_server tcp HOST PORT | unix PATH | udp HOST PORT | unixgram PATH\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    int type, family;
    int lfd = bind_socket(argc, argv, &type, &family);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    int one = 1;
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            if (fd != lfd) { on_stream(ep, fd, evs[k].events); continue; }
            if (type == SOCK_DGRAM) { on_datagrams(fd); continue; }
            for (;;) {
                int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                if (cfd < 0) break;
                if (family != AF_UNIX) setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
            }
        }
    }
}
