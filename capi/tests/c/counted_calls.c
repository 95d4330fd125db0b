/* Known numbers of malloc, calloc and free calls, all of sizes that take
 * the fast paths, from the main thread and from a thread started later:
 * tests/counted_calls.rs checks that TINYALLOC_SHOW_STATS counts every one.
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
        char *m = malloc(16 + (size_t)(i % 64) * 16);
        char *c = calloc(1, 256);
        if (m == NULL || c == NULL || c[255] != 0) {
            abort();
        }
        m[0] = (char)i;
        free(m);
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
