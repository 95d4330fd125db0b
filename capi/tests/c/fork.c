/*
 * fork() while other threads allocate: tinyalloc takes no locks and has no
 * pthread_atfork handlers, so a child must never find the allocator stuck
 * in a state only a vanished thread could finish.
 *
 *   fork [threads] [forks]
 *
 * Worker threads churn blocks of every size (including large ones and
 * frees of each other's blocks) until told to stop; meanwhile the main
 * thread forks repeatedly. Each child frees blocks the parent made
 * (including blocks owned by threads that do not exist in the child),
 * mallocs and frees a lot, starts and joins a thread of its own, forks a
 * grandchild, and exits 0. The parent waits for every child with a
 * deadline and exits 0 only if all of them exited 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHARED_SLOTS 1024

static atomic_int stop;
/* Blocks any thread may take and free (cross-thread frees). */
static _Atomic(unsigned char *) shared[SHARED_SLOTS];

static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static size_t pick_len(uint64_t *state) {
    uint64_t r = next_random(state);
    if (r % 64 == 0)
        return 140000 + (r >> 8) % 500000;
    if (r % 8 == 0)
        return 2000 + (r >> 8) % 60000;
    return (r >> 8) % 512;
}

/* Allocate, touch, and swap through the shared slots. */
static int churn(uint64_t *state, long rounds) {
    enum { LOCAL = 64 };
    unsigned char *local[LOCAL] = {0};
    for (long i = 0; rounds < 0 ? !atomic_load(&stop) : i < rounds; i++) {
        size_t len = pick_len(state);
        unsigned char *p = (i & 3) == 0 ? calloc(1, len + 1) : malloc(len + 1);
        if (!p)
            return 1;
        p[0] = 0xab;
        p[len] = 0xcd;
        if (len && (i & 7) == 1) {
            unsigned char *q = realloc(p, len / 2 + 1);
            if (!q)
                return 1;
            p = q;
            p[len / 2] = 0xcd;
        }
        size_t slot = next_random(state) % LOCAL;
        free(local[slot]);
        local[slot] = p;
        if ((i & 15) == 0) {
            unsigned char *mine = malloc(64);
            if (!mine)
                return 1;
            memset(mine, 0x11, 64);
            unsigned char *theirs =
                atomic_exchange(&shared[next_random(state) % SHARED_SLOTS], mine);
            if (theirs && theirs[63] != 0x11)
                return 1;
            free(theirs);
        }
    }
    for (int i = 0; i < LOCAL; i++)
        free(local[i]);
    return 0;
}

static void *worker(void *arg) {
    uint64_t state = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    if (churn(&state, -1) != 0) {
        fprintf(stderr, "worker: out of memory or corrupted block\n");
        exit(3);
    }
    return NULL;
}

static void *child_thread(void *arg) {
    uint64_t state = (uintptr_t)arg | 1;
    return (void *)(uintptr_t)churn(&state, 5000);
}

/* Wait for `pid` for at most `seconds`; kill it if it hangs. */
static int wait_with_deadline(pid_t pid, int seconds, const char *what) {
    struct timespec nap = {0, 2 * 1000 * 1000};
    for (long waited = 0; waited < seconds * 500L; waited++) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
            fprintf(stderr, "%s %d: status %#x\n", what, (int)pid, status);
            return 1;
        }
        if (done < 0 && errno != EINTR) {
            perror("waitpid");
            return 1;
        }
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "%s %d: still running after %d s (deadlock in the child?)\n", what,
            (int)pid, seconds);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 1;
}

static int child_main(unsigned round) {
    uint64_t state = 0x2545f4914f6cdd1dull * (round + 1);
    /* Free blocks the parent's threads made: their owners do not exist here. */
    for (int i = 0; i < SHARED_SLOTS; i += 2)
        free(atomic_exchange(&shared[i], NULL));
    if (churn(&state, 10000) != 0)
        return 10;
    pthread_t thread;
    void *result = (void *)1;
    if (pthread_create(&thread, NULL, child_thread, (void *)(uintptr_t)round) != 0)
        return 11;
    pthread_join(thread, &result);
    if (result != NULL)
        return 12;
    /* A grandchild, forked from a child that itself has two heaps' worth of
     * history. */
    pid_t pid = fork();
    if (pid < 0)
        return 13;
    if (pid == 0) {
        uint64_t s = state ^ 0xdeadbeef;
        _exit(churn(&s, 2000));
    }
    if (wait_with_deadline(pid, 60, "grandchild") != 0)
        return 14;
    return 0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    int forks = argc > 2 ? atoi(argv[2]) : 30;
    pthread_t *workers = malloc(sizeof *workers * (size_t)threads);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&workers[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            perror("pthread_create");
            return 1;
        }
    int failed = 0;
    for (int round = 0; round < forks; round++) {
        /* Let the workers get into the middle of things. */
        struct timespec nap = {0, (round % 5) * 1000 * 1000};
        nanosleep(&nap, NULL);
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            failed++;
            continue;
        }
        if (pid == 0)
            exit(child_main((unsigned)round)); /* exit: atexit handlers run */
        failed += wait_with_deadline(pid, 60, "child");
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(workers[i], NULL);
    for (int i = 0; i < SHARED_SLOTS; i++)
        free(atomic_exchange(&shared[i], NULL));
    free(workers);
    printf("fork: %d children, %d failed\n", forks, failed);
    return failed ? 1 : 0;
}
