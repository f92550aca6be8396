// What the CPU can do: a clock measured with a chain of dependent integer adds.
#ifndef CMACHINE_H
#define CMACHINE_H

#include <stdint.h>

/// Runs `iterations` × 16 dependent 64-bit integer additions (each waits for the one
/// before it: one per cycle on every x86-64 core since the Pentium Pro) and returns the
/// seconds they took on CLOCK_MONOTONIC. Cycles / seconds is the clock the core ran at.
/// Exists because the chain must be exactly these instructions: a compiler would fold
/// the same loop written in C or Swift.
double CMachine_dependent_add_seconds(uint64_t iterations);

#endif
