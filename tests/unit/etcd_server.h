/* etcd_server.h -- starts and stops a real etcd (/usr/bin/etcd, Debian's
 * etcd-server) for C tests. Header-only: include it in a test file.
 *
 *   etcd_server s;
 *   if (etcd_server_start(&s)) T_FAIL(...);   // fresh data dir, free ports
 *   ... use s.url ("http://127.0.0.1:PORT") ...
 *   etcd_server_stop(&s);                      // SIGTERM (then SIGKILL), keeps the data
 *   etcd_server_restart(&s);                   // same data dir and ports
 *   etcd_server_cleanup(&s);                   // stop + rm -rf the directory
 *
 * Each server lives in a mkdtemp directory (data/ and etcd.log). Cleanup is
 * automatic when the test process exits (atexit: a failed CHECK calls
 * exit(1)) or dies of SIGALRM (t.h's timeout), SIGABRT, SIGINT or SIGTERM;
 * etcd also gets PR_SET_PDEATHSIG, so it never outlives its test even after
 * a crash. On a failed start the log's tail is printed to stderr.
 * $ETCD_BIN overrides /usr/bin/etcd. Not thread-safe: start and stop from
 * the test's main thread.
 */
#ifndef ETCD_SERVER_H
#define ETCD_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct etcd_server {
    pid_t pid; /* 0 when not running */
    int client_port, peer_port;
    char dir[256];      /* the temporary directory */
    char data_dir[300]; /* dir/data */
    char log_path[300]; /* dir/etcd.log */
    char url[64];       /* http://127.0.0.1:client_port */
    char peer_url[64];
} etcd_server;

/* helpers a test does not use must not warn */
#define ETCD_SERVER_FN static __attribute__((unused))

#define ETCD_SERVER_MAX 8
static etcd_server *etcd_server_live[ETCD_SERVER_MAX];

ETCD_SERVER_FN double etcd_server_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

ETCD_SERVER_FN void etcd_server_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* A loopback port nobody listens on right now. */
ETCD_SERVER_FN int etcd_server_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* POSTs body to 127.0.0.1:port path with a plain socket (HTTP/1.0); the
 * answer (headers and body) goes to out (NUL-terminated). Returns the HTTP
 * status, or -1. For test set-up (compaction, raw checks) -- not the client
 * under test. */
ETCD_SERVER_FN int etcd_server_post(const etcd_server *s, const char *path, const char *body, char *out,
                            size_t outlen) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->client_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    char req[8192];
    int n = body ? snprintf(req, sizeof req,
                            "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\n\r\n%s",
                            path, strlen(body), body)
                 : snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (n < 0 || (size_t)n >= sizeof req || write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < outlen && (r = read(fd, out + got, outlen - 1 - got)) > 0) got += (size_t)r;
    close(fd);
    if (outlen) out[got < outlen ? got : outlen - 1] = 0;
    int status = -1;
    if (got > 12 && sscanf(out, "HTTP/1.%*d %d", &status) != 1) status = -1;
    return status;
}

ETCD_SERVER_FN void etcd_server_log_tail(const etcd_server *s) {
    FILE *f = fopen(s->log_path, "r");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, n > 3000 ? n - 3000 : 0, SEEK_SET);
    char buf[3001];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = 0;
    fclose(f);
    fprintf(stderr, "--- tail of %s ---\n%s\n---\n", s->log_path, buf);
}

ETCD_SERVER_FN void etcd_server_kill(etcd_server *s, int sig) {
    if (s->pid > 0) kill(s->pid, sig);
}

static struct sigaction etcd_server_old[32];

/* async-signal-safe: kill every etcd, remove every directory, then the
 * signal's previous disposition */
ETCD_SERVER_FN void etcd_server_on_signal(int sig) {
    for (int i = 0; i < ETCD_SERVER_MAX; i++) {
        etcd_server *s = etcd_server_live[i];
        if (!s) continue;
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        if (!getenv("ETCD_SERVER_KEEP")) {
            pid_t p = fork();
            if (p == 0) {
                execl("/bin/rm", "rm", "-rf", s->dir, (char *)NULL);
                _exit(127);
            }
            if (p > 0) waitpid(p, NULL, 0);
        }
    }
    sigaction(sig, &etcd_server_old[sig], NULL);
    raise(sig);
}

ETCD_SERVER_FN void etcd_server_cleanup(etcd_server *s);

ETCD_SERVER_FN void etcd_server_at_exit(void) {
    for (int i = 0; i < ETCD_SERVER_MAX; i++)
        if (etcd_server_live[i]) etcd_server_cleanup(etcd_server_live[i]);
}

ETCD_SERVER_FN void etcd_server_register(etcd_server *s) {
    static int hooked;
    if (!hooked) {
        hooked = 1;
        atexit(etcd_server_at_exit);
        /* not SIGSEGV/SIGBUS: sanitizers report those (etcd dies with us anyway) */
        int sigs[] = {SIGALRM, SIGABRT, SIGINT, SIGTERM};
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = etcd_server_on_signal;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            sigaction(sigs[i], &sa, &etcd_server_old[sigs[i]]);
    }
    for (int i = 0; i < ETCD_SERVER_MAX; i++)
        if (etcd_server_live[i] == s) return;
    for (int i = 0; i < ETCD_SERVER_MAX; i++)
        if (!etcd_server_live[i]) {
            etcd_server_live[i] = s;
            return;
        }
}

/* SIGTERM, wait up to 5 s, then SIGKILL. Keeps the data directory. */
ETCD_SERVER_FN void etcd_server_stop(etcd_server *s) {
    if (s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    double until = etcd_server_now() + 5;
    int st;
    while (waitpid(s->pid, &st, WNOHANG) == 0) {
        if (etcd_server_now() > until) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            break;
        }
        etcd_server_sleep_ms(20);
    }
    s->pid = 0;
}

/* Waits until GET /health answers {"health":"true"}. 0 when ready. */
ETCD_SERVER_FN int etcd_server_wait_ready(etcd_server *s, double timeout_s) {
    double until = etcd_server_now() + timeout_s;
    char out[2048];
    while (etcd_server_now() < until) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1; /* exited */
        }
        if (etcd_server_post(s, "/health", NULL, out, sizeof out) == 200 &&
            strstr(out, "\"health\":\"true\""))
            return 0;
        etcd_server_sleep_ms(50);
    }
    return -1;
}

/* Starts etcd on s's ports and data directory (both set). 0 when ready. */
ETCD_SERVER_FN int etcd_server_spawn(etcd_server *s) {
    char listen_peer[64], cluster[96], bin[256];
    snprintf(bin, sizeof bin, "%s", getenv("ETCD_BIN") ? getenv("ETCD_BIN") : "/usr/bin/etcd");
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->client_port);
    snprintf(s->peer_url, sizeof s->peer_url, "http://127.0.0.1:%d", s->peer_port);
    snprintf(listen_peer, sizeof listen_peer, "%s", s->peer_url);
    snprintf(cluster, sizeof cluster, "default=%s", s->peer_url);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        signal(SIGALRM, SIG_DFL);
        alarm(0);
        execl(bin, bin, "--name", "default", "--data-dir", s->data_dir, "--listen-client-urls",
              s->url, "--advertise-client-urls", s->url, "--listen-peer-urls", listen_peer,
              "--initial-advertise-peer-urls", s->peer_url, "--initial-cluster", cluster,
              "--initial-cluster-state", "new", "--log-level", "warn", "--logger", "zap",
              (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    if (etcd_server_wait_ready(s, 20) == 0) return 0;
    etcd_server_log_tail(s);
    etcd_server_stop(s);
    return -1;
}

/* Creates a fresh directory, picks free ports and starts etcd (retrying
 * with new ports if they were taken meanwhile). 0 when ready. */
ETCD_SERVER_FN int etcd_server_start(etcd_server *s) {
    memset(s, 0, sizeof *s);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(s->dir, sizeof s->dir, "%s/dstore-etcd-XXXXXX", tmp);
    if (!mkdtemp(s->dir)) return -1;
    snprintf(s->data_dir, sizeof s->data_dir, "%s/data", s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/etcd.log", s->dir);
    etcd_server_register(s);
    for (int attempt = 0; attempt < 3; attempt++) {
        s->client_port = etcd_server_free_port();
        s->peer_port = etcd_server_free_port();
        if (s->client_port <= 0 || s->peer_port <= 0 || s->client_port == s->peer_port) continue;
        if (etcd_server_spawn(s) == 0) return 0;
        /* a half-initialised data dir must not be reused with other ports */
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->data_dir);
        if (system(cmd)) {
        }
    }
    return -1;
}

/* Restarts a stopped server on the same data directory and ports. */
ETCD_SERVER_FN int etcd_server_restart(etcd_server *s) {
    etcd_server_stop(s);
    return etcd_server_spawn(s);
}

/* Stops the server and removes its directory ($ETCD_SERVER_KEEP keeps it). */
ETCD_SERVER_FN void etcd_server_cleanup(etcd_server *s) {
    etcd_server_stop(s);
    for (int i = 0; i < ETCD_SERVER_MAX; i++)
        if (etcd_server_live[i] == s) etcd_server_live[i] = NULL;
    if (s->dir[0] && !getenv("ETCD_SERVER_KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd)) {
        }
    }
    s->dir[0] = 0;
}

#endif
