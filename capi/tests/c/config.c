/* tinyalloc.h's configuration functions from C: prints the values in
 * effect at start (the Rust side sets the environment), then checks the
 * setters and getters and the range checks. Exits non-zero on a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tinyalloc.h"

#define CHECK(cond)                                                     \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "config.c:%d: check failed: %s\n", __LINE__, \
                    #cond);                                             \
            return 1;                                                   \
        }                                                               \
    } while (0)

int main(int argc, char **argv) {
    size_t cache = tinyalloc_config_get_cache_limit();
    printf("START purge=%llu cache=%lld arena=%zu show=%d\n",
           (unsigned long long)tinyalloc_config_get_purge_delay_ms(),
           cache == TINYALLOC_CACHE_FOLLOWS_USE ? -1LL : (long long)cache,
           tinyalloc_config_get_arena_size(), tinyalloc_config_get_show_stats());
    if (argc > 1 && strcmp(argv[1], "start-only") == 0) {
        return 0;
    }

    CHECK(tinyalloc_config_set_purge_delay_ms(0) == 0);
    CHECK(tinyalloc_config_get_purge_delay_ms() == 0);
    CHECK(tinyalloc_config_set_purge_delay_ms(3600000) == 0);
    CHECK(tinyalloc_config_set_purge_delay_ms(3600001) == -1);
    CHECK(tinyalloc_config_get_purge_delay_ms() == 3600000);

    CHECK(tinyalloc_config_set_arena_size(64 << 20) == 0);
    CHECK(tinyalloc_config_get_arena_size() == 64 << 20);
    CHECK(tinyalloc_config_set_arena_size((5 << 20) + 1) == 0);
    CHECK(tinyalloc_config_get_arena_size() == 8 << 20);
    CHECK(tinyalloc_config_set_arena_size(1 << 20) == -1);
    CHECK(tinyalloc_config_set_arena_size((size_t)2 << 30) == -1);
    CHECK(tinyalloc_config_get_arena_size() == 8 << 20);

    /* With no cache, a freed large block is not kept. */
    CHECK(tinyalloc_config_set_cache_limit(0) == 0);
    CHECK(tinyalloc_config_get_cache_limit() == 0);
    void *big = malloc(16 << 20);
    CHECK(big != NULL);
    memset(big, 1, 16 << 20);
    free(big);
    struct tinyalloc_stats st;
    tinyalloc_stats(&st);
    CHECK(st.cached_bytes == 0);
    CHECK(tinyalloc_config_set_cache_limit(64 << 20) == 0);
    CHECK(tinyalloc_config_get_cache_limit() == 64 << 20);

    CHECK(tinyalloc_config_set_show_stats(1) == 0);
    CHECK(tinyalloc_config_get_show_stats() == 1);
    printf("tinyalloc.h configuration checks passed\n");
    return 0;
}
