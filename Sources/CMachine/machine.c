#include "CMachine.h"

#include <time.h>

double CMachine_dependent_add_seconds(uint64_t iterations) {
    struct timespec start, end;
    uint64_t value = 0, one = 1, n = iterations;
    clock_gettime(CLOCK_MONOTONIC, &start);
#if defined(__x86_64__)
    __asm__ volatile(
        "1:\n\t"
        "add %[one], %[v]\n\t" "add %[one], %[v]\n\t" "add %[one], %[v]\n\t" "add %[one], %[v]\n\t"
        "add %[one], %[v]\n\t" "add %[one], %[v]\n\t" "add %[one], %[v]\n\t" "add %[one], %[v]\n\t"
        "add %[one], %[v]\n\t" "add %[one], %[v]\n\t" "add %[one], %[v]\n\t" "add %[one], %[v]\n\t"
        "add %[one], %[v]\n\t" "add %[one], %[v]\n\t" "add %[one], %[v]\n\t" "add %[one], %[v]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : [v] "+r"(value), [n] "+r"(n)
        : [one] "r"(one)
        : "cc");
#else
    for (uint64_t i = 0; i < iterations * 16; i++) value = value * 3 + one;
#endif
    clock_gettime(CLOCK_MONOTONIC, &end);
    (void)value;
    return (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
}
