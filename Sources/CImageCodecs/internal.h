#ifndef CIMAGECODECS_INTERNAL_H
#define CIMAGECODECS_INTERNAL_H
// Helpers shared by the PNG and JPEG shims; not part of the module's interface.
#include <stddef.h>
#include <stdint.h>

/// Copies `text` into `buffer` (capacity `capacity`, may be 0), always NUL-terminated,
/// truncating if needed.
void cimagecodecs_set_message(char *buffer, size_t capacity, const char *text);

/// Encodes a figure as PNG with the fast encoder of figure_png.c (CImageCodecs_PNG_JOB_FIGURE);
/// the arguments and the result are those of CImageCodecs_png_encode.
int cimagecodecs_png_encode_figure(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels,
                                   void **out, size_t *out_size, char *message, size_t message_capacity);

#endif
