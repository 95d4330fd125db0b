/* Load libtinyalloc.so late, with dlopen, into a program that did not
 * preload it, and allocate through its malloc/free/calloc/realloc found with
 * dlsym: from the main thread, from a thread that existed before the load
 * and from threads started after it. The library keeps its heap pointer in
 * initial-exec TLS, which a late load takes from glibc's static TLS surplus
 * (set up in every existing thread too).
 *
 *   dlopen PATH-TO-libtinyalloc.so
 *
 * Prints "dlopen ok N" (N blocks checked) and exits 0, or names what failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*ta_malloc)(size_t);
static void (*ta_free)(void *);
static void *(*ta_calloc)(size_t, size_t);
static void *(*ta_realloc)(void *, size_t);

static pthread_barrier_t loaded;

#define BLOCKS 2000

/* Allocate, fill, check and free; returns the blocks checked, or -1. */
static long work(unsigned seed) {
    static __thread void *blocks[BLOCKS];
    static __thread size_t sizes[BLOCKS];
    long checked = 0;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < BLOCKS; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t size = 1 + (seed >> 8) % (i % 50 == 0 ? 200000 : 2000);
            unsigned char *p = (i % 3 == 0) ? ta_calloc(1, size) : ta_malloc(size);
            if (!p)
                return -1;
            if (i % 3 == 0)
                for (size_t k = 0; k < size; k++)
                    if (p[k] != 0)
                        return -1;
            memset(p, (unsigned char)i, size);
            if (i % 7 == 0) {
                size_t bigger = size * 2 + 5;
                p = ta_realloc(p, bigger);
                if (!p)
                    return -1;
                for (size_t k = 0; k < size; k++)
                    if (p[k] != (unsigned char)i)
                        return -1;
                memset(p, (unsigned char)i, bigger);
                size = bigger;
            }
            blocks[i] = p;
            sizes[i] = size;
        }
        for (int i = 0; i < BLOCKS; i++) {
            unsigned char *p = blocks[i];
            for (size_t k = 0; k < sizes[i]; k += 61)
                if (p[k] != (unsigned char)i)
                    return -1;
            ta_free(p);
            checked++;
        }
    }
    return checked;
}

static void *early_thread(void *arg) {
    (void)arg;
    pthread_barrier_wait(&loaded);
    return (void *)(intptr_t)work(7);
}

static void *late_thread(void *arg) {
    return (void *)(intptr_t)work((unsigned)(uintptr_t)arg);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
        return 2;
    }
    pthread_barrier_init(&loaded, NULL, 2);
    pthread_t early;
    pthread_create(&early, NULL, early_thread, NULL);

    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen failed: %s\n", dlerror());
        return 1;
    }
    ta_malloc = (void *(*)(size_t))dlsym(lib, "malloc");
    ta_free = (void (*)(void *))dlsym(lib, "free");
    ta_calloc = (void *(*)(size_t, size_t))dlsym(lib, "calloc");
    ta_realloc = (void *(*)(void *, size_t))dlsym(lib, "realloc");
    if (!ta_malloc || !ta_free || !ta_calloc || !ta_realloc) {
        fprintf(stderr, "dlsym failed\n");
        return 1;
    }
    if ((void *)ta_malloc == dlsym(RTLD_DEFAULT, "malloc")) {
        fprintf(stderr, "the program's malloc is the library's: it was preloaded\n");
        return 1;
    }
    pthread_barrier_wait(&loaded);

    long total = work(1);
    if (total < 0) {
        fprintf(stderr, "main thread: a block was wrong\n");
        return 1;
    }
    pthread_t late[3];
    for (int t = 0; t < 3; t++)
        pthread_create(&late[t], NULL, late_thread, (void *)(uintptr_t)(100 + t));
    void *result;
    pthread_join(early, &result);
    if ((intptr_t)result < 0) {
        fprintf(stderr, "early thread: a block was wrong\n");
        return 1;
    }
    total += (intptr_t)result;
    for (int t = 0; t < 3; t++) {
        pthread_join(late[t], &result);
        if ((intptr_t)result < 0) {
            fprintf(stderr, "late thread %d: a block was wrong\n", t);
            return 1;
        }
        total += (intptr_t)result;
    }
    printf("dlopen ok %ld\n", total);
    return 0;
}
