/* The HTTP floor (issue 5): the least work an HTTP/1.1 server can do per
 * request on this machine. It answers every request, whatever its method,
 * path, headers or body, with 200 and a fixed 100-byte body.
 *
 *   floor PORT [THREADS]      listens on 127.0.0.1:PORT, THREADS epoll loops
 *
 * Same shape as dStore's net/http.c (one epoll loop per thread, each with its
 * own SO_REUSEPORT listener, keep-alive, pipelined requests answered in one
 * write), minus everything a real server does: it finds the end of the headers,
 * reads Content-Length (case-insensitively) to skip the body, and writes the
 * canned answer. No chunked bodies, no timeouts, no limits beyond a 1 MiB
 * request: it exists to be measured, not to be used.
 *
 * bench/run.py builds it (cc -O2) and runs it beside nginx; the faster of the
 * two is the floor of each load. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#define BODY "{\"floor\":\"012345678901234567890123456789012345678901234567890123456789012345678901234567890123456\"}\n"
#define RESP "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" BODY
#define BUFMAX (1 << 20)

_Static_assert(sizeof(BODY) - 1 == 100, "body is 100 bytes");

struct conn {
  int fd;
  size_t len, cap;
  char *buf;
  size_t need; /* body bytes still to skip of the current request */
};

static int port, nthreads = 2;

static int listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
    perror("floor: bind/listen");
    exit(1);
  }
  return fd;
}

static size_t content_length(const char *h, size_t n) {
  static const char key[] = "\r\ncontent-length:";
  for (size_t i = 0; i + sizeof key - 1 <= n; i++) {
    if (h[i] == '\r' && strncasecmp(h + i, key, sizeof key - 1) == 0) {
      const char *p = h + i + sizeof key - 1;
      while (*p == ' ' || *p == '\t') p++;
      return strtoull(p, NULL, 10);
    }
  }
  return 0;
}

static void close_conn(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->buf);
  free(c);
}

/* Reads what is there, answers every complete request; 0 = keep, -1 = close. */
static int serve(struct conn *c) {
  char out[64 * (sizeof RESP - 1)];
  for (;;) {
    if (c->cap - c->len < 16384) {
      if (c->cap >= BUFMAX) return -1;
      c->cap = c->cap ? c->cap * 2 : 32768;
      c->buf = realloc(c->buf, c->cap);
    }
    ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (r == 0) return -1;
    if (r < 0) return errno == EAGAIN ? 0 : -1;
    c->len += (size_t)r;
    size_t pos = 0, olen = 0;
    for (;;) {
      if (c->need) {
        size_t take = c->len - pos < c->need ? c->len - pos : c->need;
        pos += take, c->need -= take;
        if (c->need) break;
        continue;
      }
      char *end = memmem(c->buf + pos, c->len - pos, "\r\n\r\n", 4);
      if (!end) break;
      size_t hlen = (size_t)(end - (c->buf + pos)) + 4;
      c->need = content_length(c->buf + pos, hlen - 2);
      pos += hlen;
      memcpy(out + olen, RESP, sizeof RESP - 1);
      olen += sizeof RESP - 1;
      if (olen + sizeof RESP > sizeof out) {
        if (write(c->fd, out, olen) != (ssize_t)olen) return -1;
        olen = 0;
      }
    }
    if (olen && write(c->fd, out, olen) != (ssize_t)olen) return -1;
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
  }
}

static void *loop(void *arg) {
  (void)arg;
  int lfd = listener(), ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c = calloc(1, sizeof *c);
          c->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      if (serve(c) < 0) close_conn(ep, c);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: floor PORT [THREADS]\n");
    return 2;
  }
  port = atoi(argv[1]);
  if (argc > 2) nthreads = atoi(argv[2]);
  signal(SIGPIPE, SIG_IGN);
  pthread_t t[64];
  for (int i = 1; i < nthreads && i < 64; i++) pthread_create(&t[i], NULL, loop, NULL);
  fprintf(stderr, "floor: listening on 127.0.0.1:%d, %d threads\n", port, nthreads);
  loop(NULL);
  return 0;
}
