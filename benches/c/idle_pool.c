// idle_pool: a worker pool between bursts. THREADS threads start and wait;
// then each allocates BYTES in blocks of 16..4096 B (uniform, every byte
// written), frees them all in allocation order, and waits again. The program
// reads RSS (/proc/self/statm) while the threads wait before the burst and
// one second after the last thread freed its blocks, and prints
//
//   RESULT idle_delta_kb=<after - before> before_kb=.. after_kb=.. peak_kb=.. burst_ms=..
//
// idle_delta_kb is what the pool pins while idle, beyond what the same idle
// threads cost before they ever allocated. No allocator call is made between
// the end of the burst and the second reading: memory that comes back must
// come back while the threads free, not on a later allocation.
//
// Usage: idle_pool [threads=256] [bytes_per_thread_kib=4096] [idle_ms=1000]
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static size_t bytes_per_thread = 4u << 20;
static pthread_barrier_t started, go, freed, leave;

/* RSS in KiB; a run that cannot read it measures nothing. */
static long resident_kb(void) {
    long kb = rss_kb();
    if (kb < 0) {
        fprintf(stderr, "idle_pool: cannot read /proc/self/statm\n");
        exit(1);
    }
    return kb;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void* worker(void* arg) {
    uint64_t seed = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1);
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&go);
    // The blocks are chained through their first word (oldest first), so the
    // burst needs no bookkeeping memory of its own.
    void** first = NULL;
    void** last = NULL;
    size_t total = 0;
    while (total < bytes_per_thread) {
        size_t size = 16 + next_random(&seed) % (4096 - 16 + 1);
        void** block = malloc(size);
        if (block == NULL) {
            fprintf(stderr, "idle_pool: out of memory\n");
            exit(1);
        }
        memset(block, (int)(size & 0xff), size);
        *block = NULL;
        if (last != NULL) {
            *last = block;
        } else {
            first = block;
        }
        last = block;
        total += size;
    }
    while (first != NULL) {
        void** next = *first;
        free(first);
        first = next;
    }
    pthread_barrier_wait(&freed);
    pthread_barrier_wait(&leave);
    return NULL;
}

int main(int argc, char** argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 256;
    if (argc > 2) bytes_per_thread = (size_t)atol(argv[2]) << 10;
    long idle_ms = argc > 3 ? atol(argv[3]) : 1000;
    if (threads < 1) threads = 1;

    pthread_barrier_init(&started, NULL, threads + 1);
    pthread_barrier_init(&go, NULL, threads + 1);
    pthread_barrier_init(&freed, NULL, threads + 1);
    pthread_barrier_init(&leave, NULL, threads + 1);
    pthread_t* ids = calloc(threads, sizeof(pthread_t));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&ids[i], &attr, worker, (void*)(uintptr_t)i) != 0) {
            fprintf(stderr, "idle_pool: pthread_create failed\n");
            return 1;
        }
    }
    pthread_barrier_wait(&started);
    usleep(100 * 1000);
    long before = resident_kb();

    double start = now_ms();
    pthread_barrier_wait(&go);
    pthread_barrier_wait(&freed);
    double burst = now_ms() - start;
    usleep(idle_ms * 1000);
    long after = resident_kb();

    pthread_barrier_wait(&leave);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("RESULT idle_delta_kb=%ld before_kb=%ld after_kb=%ld peak_kb=%ld burst_ms=%.1f\n",
           after - before, before, after, usage.ru_maxrss, burst);
    free(ids);
    return 0;
}
