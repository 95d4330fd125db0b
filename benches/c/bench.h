/*
 * Helpers shared by the C programs in benches/c (each is built alone by
 * `preload`: gcc -O2 -pthread <program>.c; this header sits beside them).
 */
#ifndef TINYALLOC_BENCH_H
#define TINYALLOC_BENCH_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* xorshift64*: small, fast, good enough for picking slots and sizes. */
static inline uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Monotonic time in seconds. */
static inline double now_secs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Resident set now, in KiB (from /proc/self/statm; -1 if unreadable). */
static inline long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1, resident = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The file `malloc` comes from (the preloaded library, or libc), for the
 * `malloc_from=` key that `preload` checks. */
static inline const char *malloc_from(void) {
    Dl_info info;
    if (dladdr((void *)&malloc, &info) && info.dli_fname)
        return info.dli_fname;
    return "?";
}

#endif
