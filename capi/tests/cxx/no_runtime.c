/* operator new called from a C program, with no C++ runtime loaded: the
 * library must not have pulled libstdc++ in, nothrow new returns NULL, and
 * a throwing new that fails writes one line and aborts (there is nothing to
 * throw std::bad_alloc with). Linked against libtinyalloc.so. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void *_Znwm(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag);
void *_ZnwmSt11align_val_t(size_t size, size_t align);
void _ZdlPv(void *ptr);
void _ZdlPvm(void *ptr, size_t size);

int main(void) {
    if (dlsym(RTLD_DEFAULT, "__cxa_throw") != NULL) {
        fprintf(stderr, "a C++ runtime is loaded in a C program\n");
        return 2;
    }
    char *p = _Znwm(100);
    if (p == NULL) return 3;
    memset(p, 1, 100);
    _ZdlPvm(p, 100);
    p = _ZnwmSt11align_val_t(100, 4096);
    if (p == NULL || ((uintptr_t)p & 4095) != 0) return 4;
    _ZdlPv(p);
    if (_ZnwmRKSt9nothrow_t(SIZE_MAX / 2, NULL) != NULL) return 5;
    printf("nothrow ok\n");
    fflush(stdout);
    volatile size_t impossible = SIZE_MAX / 2;
    _Znwm(impossible);
    printf("operator new returned\n");
    return 6;
}
