#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
// Thin wrappers around libpng and libjpeg. Their error handling uses setjmp/longjmp,
// which must never cross into Swift: every function here returns a status code and
// writes a message into a caller-provided buffer instead.
int CImageCodecs_png_version(void);
#endif
