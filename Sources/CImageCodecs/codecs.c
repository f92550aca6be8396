#include "CImageCodecs.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <png.h>
#include <jpeglib.h>

int CImageCodecs_png_version(void) { return (int)png_access_version_number(); }

int CImageCodecs_jpeg_version(void) { return JPEG_LIB_VERSION; }

void CImageCodecs_free(void *pointer) { free(pointer); }

void cimagecodecs_set_message(char *buffer, size_t capacity, const char *text) {
    if (buffer == NULL || capacity == 0) return;
    if (text == NULL) text = "";
    size_t n = strlen(text);
    if (n >= capacity) n = capacity - 1;
    memcpy(buffer, text, n);
    buffer[n] = '\0';
}
