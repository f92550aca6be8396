#ifndef CIMAGECODECS_INTERNAL_H
#define CIMAGECODECS_INTERNAL_H
// Helpers shared by the PNG and JPEG shims; not part of the module's interface.
#include <stddef.h>

/// Copies `text` into `buffer` (capacity `capacity`, may be 0), always NUL-terminated,
/// truncating if needed.
void cimagecodecs_set_message(char *buffer, size_t capacity, const char *text);

#endif
