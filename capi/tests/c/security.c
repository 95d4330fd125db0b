/*
 * One misuse per run, in the shape of mimalloc-bench's security tests
 * (bench/security): the allocator must stop the program with an abort and a
 * message naming the pointer, so reaching the end prints NOT_CAUGHT.
 *
 *   security <family> <size>
 *
 * Before the misuse, the pointer about to be misused goes to stderr as
 * "misusing 0x...", for the test to find in the allocator's message.
 * Compile with -fno-builtin so the compiler keeps every call as written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"

static char global_buffer[64];

/* Out of line, so the compiler cannot see a malloc and free pair through. */
__attribute__((noinline)) static void *malloc_noinline(size_t n) { return malloc(n); }
__attribute__((noinline)) static void free_noinline(void *p) { free(p); }

static void *announce(void *p) {
    fprintf(stderr, "misusing %p\n", p);
    fflush(stderr);
    return p;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: security <family> <size>\n");
        return 2;
    }
    const char *family = argv[1];
    size_t size = strtoul(argv[2], NULL, 0);
    char *p = malloc_noinline(size);
    if (!p) {
        fprintf(stderr, "malloc(%zu) failed\n", size);
        return 2;
    }
    if (!strcmp(family, "double_free")) {
        free_noinline(announce(p));
        free_noinline(p);
    } else if (!strcmp(family, "double_free_delayed")) {
        /* Blocks of the same size come and go between the two frees. */
        free_noinline(announce(p));
        for (int i = 0; i < 1024; i++)
            free_noinline(malloc_noinline(size));
        free_noinline(p);
    } else if (!strcmp(family, "double_free_interleaved")) {
        void *q = malloc_noinline(size);
        free_noinline(announce(p));
        free_noinline(q);
        free_noinline(p);
    } else if (!strcmp(family, "invalid_free")) {
        free_noinline(announce((void *)1));
    } else if (!strcmp(family, "invalid_free_0x1000")) {
        free_noinline(announce((void *)0x1000));
    } else if (!strcmp(family, "invalid_free_stack")) {
        char local[64];
        local[0] = 1;
        free_noinline(announce(local));
    } else if (!strcmp(family, "invalid_free_global")) {
        free_noinline(announce(global_buffer));
    } else if (!strcmp(family, "invalid_free_far")) {
        free_noinline(announce((void *)((uintptr_t)p + ((uintptr_t)1 << 30))));
    } else if (!strcmp(family, "invalid_free_close_after")) {
        free_noinline(announce(p + 8));
    } else if (!strcmp(family, "invalid_free_close_before")) {
        free_noinline(announce(p - 8));
    } else if (!strcmp(family, "invalid_free_close_4k")) {
        free_noinline(announce(p + 4096));
    } else if (!strcmp(family, "invalid_free_unaligned")) {
        free_noinline(announce(p + 1));
    } else if (!strcmp(family, "write_after_free_reuse")) {
        free_noinline(announce(p));
        memset(p, 'A', size);
        for (size_t i = 0; i < 1024 * 256; i++)
            free_noinline(malloc_noinline(size));
    } else {
        fprintf(stderr, "unknown family %s\n", family);
        return 2;
    }
    puts("NOT_CAUGHT");
    fflush(stdout);
    return 0;
}
