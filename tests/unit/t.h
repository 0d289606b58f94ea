/* t.h -- dStore's tiny unit-test runner.
 *
 * A test file defines tests with TEST(name) { ... } and ends with
 * TEST_MAIN(). Each test runs in a forked child with a timeout, so a crash or
 * a hang fails that test alone (libuv's habit). Checks:
 *   CHECK(cond)               fails the test if cond is false
 *   CHECK_EQ_INT(a, b)        integers, printed on failure
 *   CHECK_EQ_STR(a, b)        NUL-terminated strings
 *   CHECK_EQ_MEM(a, b, n)     n bytes
 * The program prints "name: ok" / "name: FAILED ..." per test and ends with
 * "N passed, N failed"; it exits 1 if any failed. A single test can be run
 * with `./test_x name`.
 */
#ifndef T_H
#define T_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*t_fn)(void);
struct t_case {
    const char *name;
    t_fn fn;
};
#define T_MAX 512
static struct t_case t_cases[T_MAX];
static int t_ncases;

#define TEST(name)                                                                       \
    static void t_##name(void);                                                          \
    __attribute__((constructor)) static void t_reg_##name(void) {                        \
        if (t_ncases < T_MAX) t_cases[t_ncases++] = (struct t_case){#name, t_##name};    \
    }                                                                                    \
    static void t_##name(void)

#define T_FAIL(...)                                                                      \
    do {                                                                                 \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fprintf(stderr, "\n");                                                           \
        exit(1);                                                                         \
    } while (0)

#define CHECK(c)                                                                         \
    do {                                                                                 \
        if (!(c)) T_FAIL("CHECK(%s) failed", #c);                                        \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                               \
    do {                                                                                 \
        long long t_a = (long long)(a), t_b = (long long)(b);                            \
        if (t_a != t_b) T_FAIL("%s == %lld, expected %s == %lld", #a, t_a, #b, t_b);     \
    } while (0)
#define CHECK_EQ_STR(a, b)                                                               \
    do {                                                                                 \
        const char *t_a = (a), *t_b = (b);                                               \
        if (!t_a || !t_b || strcmp(t_a, t_b))                                            \
            T_FAIL("%s == \"%s\", expected \"%s\"", #a, t_a ? t_a : "(null)",            \
                   t_b ? t_b : "(null)");                                                \
    } while (0)
#define CHECK_EQ_MEM(a, b, n)                                                            \
    do {                                                                                 \
        if (memcmp((a), (b), (n))) T_FAIL("%s and %s differ", #a, #b);                   \
    } while (0)

#ifndef T_TIMEOUT
#define T_TIMEOUT 60
#endif

static int t_run_one(struct t_case *c) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(T_TIMEOUT);
        c->fn();
        fflush(NULL);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("%s: ok\n", c->name);
        return 1;
    }
    if (WIFSIGNALED(st))
        printf("%s: FAILED (signal %d%s)\n", c->name, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? ", timeout" : "");
    else
        printf("%s: FAILED\n", c->name);
    return 0;
}

#define TEST_MAIN()                                                                      \
    int main(int argc, char **argv) {                                                    \
        int pass = 0, fail = 0;                                                          \
        for (int i = 0; i < t_ncases; i++) {                                             \
            if (argc > 1 && strcmp(argv[1], t_cases[i].name)) continue;                  \
            if (t_run_one(&t_cases[i])) pass++;                                          \
            else fail++;                                                                 \
        }                                                                                \
        printf("%d passed, %d failed\n", pass, fail);                                    \
        return fail ? 1 : 0;                                                             \
    }

#endif
