/* Known numbers of malloc, calloc, realloc and free calls, all of sizes
 * that take the fast paths, from the main thread and from a thread started
 * later: tests/counted_calls.rs checks that TINYALLOC_SHOW_STATS counts
 * every one (and the contents a realloc keeps).
 *
 *   counted_calls <calls per thread>
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *calls(void *arg) {
    long n = *(const long *)arg;
    for (long i = 0; i < n; i++) {
        size_t size = 16 + (size_t)(i % 64) * 16;
        char *m = malloc(size);
        char *c = calloc(1, 256);
        if (m == NULL || c == NULL || c[255] != 0) {
            abort();
        }
        memset(m, (int)(i & 0x7f), size);
        /* Kept in place or moved, by turns. */
        char *r = realloc(m, i % 2 ? size + 8 : 2 * size + 64);
        if (r == NULL || r[0] != (char)(i & 0x7f) || r[size - 1] != (char)(i & 0x7f)) {
            abort();
        }
        free(r);
        free(c);
    }
    return NULL;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    calls(&n);
    pthread_t thread;
    if (pthread_create(&thread, NULL, calls, &n) != 0 || pthread_join(thread, NULL) != 0) {
        return 1;
    }
    puts("done");
    return 0;
}
