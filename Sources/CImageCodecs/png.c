// libpng behind status codes. Every libpng call is made in the frame that called
// setjmp(png_jmpbuf(...)); the error callback copies libpng's message and longjmps
// back there. State that callbacks change after setjmp lives on the heap (a context
// allocated before setjmp) or in `volatile` locals, so it is still valid after a longjmp.

#include "CImageCodecs.h"
#include "internal.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// Ancillary chunks (text, ICC profiles...) larger than this are an error: they are
/// read before the image data and would otherwise be a way to make us allocate.
#define CHUNK_MALLOC_MAX ((png_alloc_size_t)8 << 20)

/// Reader state shared with libpng's callbacks.
typedef struct {
    const unsigned char *data;
    size_t size;
    size_t position;
    /// Set when libpng asked for bytes past the end of the data.
    int truncated;
    /// The caller's message buffer.
    char *message;
    size_t message_capacity;
    /// The last warning: libpng often warns with the detail ("Invalid bit depth in
    /// IHDR", "Image width exceeds user limit in IHDR") and then errors in general terms.
    char warning[160];
} reader;

static void on_error(png_structp png, png_const_charp text) {
    reader *r = (reader *)png_get_error_ptr(png);
    if (r != NULL) {
        if (r->warning[0] != '\0') {
            char combined[400];
            snprintf(combined, sizeof combined, "%s (%s)", text, r->warning);
            cimagecodecs_set_message(r->message, r->message_capacity, combined);
        } else {
            cimagecodecs_set_message(r->message, r->message_capacity, text);
        }
    }
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    // On their own, warnings concern ancillary data libpng already discarded (bad
    // ancillary CRC, incorrect sRGB profile...) and the pixels are unaffected, so they
    // do not fail the decode; the last one is kept to explain a following error.
    reader *r = (reader *)png_get_error_ptr(png);
    if (r != NULL) cimagecodecs_set_message(r->warning, sizeof r->warning, text);
}

static void on_read(png_structp png, png_bytep out, size_t count) {
    reader *r = (reader *)png_get_io_ptr(png);
    if (count > r->size - r->position) {
        r->truncated = 1;
        png_error(png, "PNG data ends unexpectedly");
    }
    memcpy(out, r->data + r->position, count);
    r->position += count;
}

/// Status for a longjmp out of libpng.
static int failure_status(const reader *r) {
    if (r->truncated) return CImageCodecs_TRUNCATED;
    if (r->message != NULL && strstr(r->message, "user limit") != NULL) return CImageCodecs_LIMIT_EXCEEDED;
    if (r->message != NULL && strstr(r->message, "ut of memory") != NULL) return CImageCodecs_OUT_OF_MEMORY;
    return CImageCodecs_CORRUPT;
}

/// The 8-bit samples per pixel CImageCodecs_png_decode produces for this header.
static int output_channels(int color_type, int has_trns) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1 + has_trns;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3 + has_trns;
    case PNG_COLOR_TYPE_PALETTE: return 3 + has_trns;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 0;
    }
}

static int source_channels(int color_type) {
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_PALETTE: return 1;
    case PNG_COLOR_TYPE_RGB_ALPHA: return 4;
    default: return 0;
    }
}

/// Reads the chunks up to the first IDAT and fills `info`. Must be called inside the
/// caller's setjmp frame (it may longjmp).
static void read_info(png_structp png, png_infop pinfo, CImageCodecs_image_info *info) {
    png_read_info(png, pinfo);
    png_uint_32 width = 0, height = 0;
    int depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, pinfo, &width, &height, &depth, &color_type, &interlace, NULL, NULL);
    int has_trns = png_get_valid(png, pinfo, PNG_INFO_tRNS) != 0;
    memset(info, 0, sizeof *info);
    info->width = width;
    info->height = height;
    info->bit_depth = depth;
    info->color_type = color_type;
    info->source_channels = source_channels(color_type);
    info->output_channels = output_channels(color_type, has_trns);
    info->has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || has_trns;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    info->arithmetic = 0;
}

// Allocates the memory source and libpng's read and info structs (no libpng call that
// can longjmp happens here; the caller sets its own setjmp before reading).
static int create_reader(const void *data, size_t size, char *message, size_t message_capacity,
                         reader **out_reader, png_structp *out_png, png_infop *out_info) {
    reader *r = calloc(1, sizeof *r);
    if (r == NULL) return CImageCodecs_OUT_OF_MEMORY;
    r->data = data;
    r->size = size;
    r->message = message;
    r->message_capacity = message_capacity;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, on_error, on_warning);
    png_infop pinfo = png != NULL ? png_create_info_struct(png) : NULL;
    if (png == NULL || pinfo == NULL) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(r);
        cimagecodecs_set_message(message, message_capacity, "out of memory creating the PNG reader");
        return CImageCodecs_OUT_OF_MEMORY;
    }
    *out_reader = r;
    *out_png = png;
    *out_info = pinfo;
    return CImageCodecs_OK;
}

int CImageCodecs_png_read_header(const void *data, size_t size,
                                 CImageCodecs_image_info *info,
                                 char *message, size_t message_capacity) {
    cimagecodecs_set_message(message, message_capacity, "");
    if (data == NULL || info == NULL) {
        cimagecodecs_set_message(message, message_capacity, "no data or no info");
        return CImageCodecs_INVALID_ARGUMENT;
    }
    reader *r = NULL;
    png_structp png = NULL;
    png_infop pinfo = NULL;
    int created = create_reader(data, size, message, message_capacity, &r, &png, &pinfo);
    if (created != CImageCodecs_OK) return created;
    if (setjmp(png_jmpbuf(png))) {
        int status = failure_status(r);
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(r);
        return status;
    }
    // The caller applies its own limits to what the header declares; lift libpng's
    // (Debian's build allows 1,000,000 x 1,000,000) so that it can see the real size.
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_chunk_malloc_max(png, CHUNK_MALLOC_MAX);
    png_set_read_fn(png, r, on_read);
    read_info(png, pinfo, info);
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(r);
    return CImageCodecs_OK;
}

int CImageCodecs_png_decode(const void *data, size_t size,
                            uint32_t expected_width, uint32_t expected_height,
                            int32_t expected_channels,
                            uint32_t max_width, uint32_t max_height,
                            void *out, size_t out_size,
                            char *message, size_t message_capacity) {
    cimagecodecs_set_message(message, message_capacity, "");
    if (data == NULL || out == NULL || expected_channels < 1 || expected_channels > 4) {
        cimagecodecs_set_message(message, message_capacity, "invalid arguments");
        return CImageCodecs_INVALID_ARGUMENT;
    }
    reader *r = NULL;
    png_structp png = NULL;
    png_infop pinfo = NULL;
    int created = create_reader(data, size, message, message_capacity, &r, &png, &pinfo);
    if (created != CImageCodecs_OK) return created;
    // Assigned after setjmp and freed after a longjmp: must be volatile.
    png_bytep *volatile rows = NULL;
    volatile int status = CImageCodecs_OK;
    if (setjmp(png_jmpbuf(png))) {
        if (status == CImageCodecs_OK) status = failure_status(r);
        free(rows);
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(r);
        return status;
    }
    png_set_user_limits(png, max_width, max_height);
    png_set_chunk_malloc_max(png, CHUNK_MALLOC_MAX);
    png_set_read_fn(png, r, on_read);

    CImageCodecs_image_info info;
    read_info(png, pinfo, &info);
    size_t row_bytes = (size_t)info.width * (size_t)expected_channels;
    if (info.width != expected_width || info.height != expected_height ||
        info.output_channels != expected_channels) {
        status = CImageCodecs_INVALID_ARGUMENT;
        png_error(png, "the PNG header differs from the one read before");
    }
    if (info.height != 0 && row_bytes > out_size / info.height) {
        status = CImageCodecs_INVALID_ARGUMENT;
        png_error(png, "output buffer too small");
    }

    // Everything to 8-bit gray, gray+alpha, RGB or RGBA; no gamma, no colour management.
    if (info.color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (info.color_type == PNG_COLOR_TYPE_GRAY && info.bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, pinfo, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (info.bit_depth == 16) png_set_scale_16(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    if (png_get_bit_depth(png, pinfo) != 8 || png_get_channels(png, pinfo) != expected_channels ||
        png_get_rowbytes(png, pinfo) != row_bytes) {
        status = CImageCodecs_UNSUPPORTED;
        png_error(png, "unexpected PNG layout after transformations");
    }

    rows = malloc(sizeof(png_bytep) * (info.height ? info.height : 1));
    if (rows == NULL) {
        status = CImageCodecs_OUT_OF_MEMORY;
        png_error(png, "out of memory for row pointers");
    }
    for (png_uint_32 y = 0; y < info.height; y++) rows[y] = (png_bytep)out + (size_t)y * row_bytes;
    png_read_image(png, rows);
    // Reads the chunks after the image data, checking their CRCs and the final IEND.
    png_read_end(png, NULL);

    free(rows);
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(r);
    return CImageCodecs_OK;
}

// MARK: - Encoding

/// Writer state shared with libpng's callbacks: a growing malloc'd buffer.
typedef struct {
    unsigned char *buffer;
    size_t size;
    size_t capacity;
    int out_of_memory;
    char *message;
    size_t message_capacity;
} writer;

static void on_write_error(png_structp png, png_const_charp text) {
    writer *w = (writer *)png_get_error_ptr(png);
    if (w != NULL) cimagecodecs_set_message(w->message, w->message_capacity, text);
    png_longjmp(png, 1);
}

static void on_write(png_structp png, png_bytep bytes, size_t count) {
    writer *w = (writer *)png_get_io_ptr(png);
    if (count > w->capacity - w->size) {
        size_t capacity = w->capacity ? w->capacity : 4096;
        while (count > capacity - w->size) {
            if (capacity > SIZE_MAX / 2) {
                w->out_of_memory = 1;
                png_error(png, "PNG output too large");
            }
            capacity *= 2;
        }
        unsigned char *grown = realloc(w->buffer, capacity);
        if (grown == NULL) {
            w->out_of_memory = 1;
            png_error(png, "out of memory for the PNG output");
        }
        w->buffer = grown;
        w->capacity = capacity;
    }
    memcpy(w->buffer + w->size, bytes, count);
    w->size += count;
}

static void on_flush(png_structp png) { (void)png; }

static void on_write_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

int CImageCodecs_png_encode(const void *pixels, uint32_t width, uint32_t height,
                            int32_t channels, int32_t content,
                            void **out, size_t *out_size,
                            char *message, size_t message_capacity) {
    cimagecodecs_set_message(message, message_capacity, "");
    if (out != NULL) *out = NULL;
    if (out_size != NULL) *out_size = 0;
    if (pixels == NULL || out == NULL || out_size == NULL || width == 0 || height == 0 ||
        channels < 1 || channels > 4 ||
        (content != CImageCodecs_PNG_PHOTO && content != CImageCodecs_PNG_FIGURE && content != CImageCodecs_PNG_JOB_FIGURE)) {
        cimagecodecs_set_message(message, message_capacity, "invalid arguments");
        return CImageCodecs_INVALID_ARGUMENT;
    }
    if (content == CImageCodecs_PNG_JOB_FIGURE) {
        return cimagecodecs_png_encode_figure(pixels, width, height, channels, out, out_size, message, message_capacity);
    }
    static const int color_types[5] = {
        0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA,
    };
    writer *w = calloc(1, sizeof *w);
    if (w == NULL) return CImageCodecs_OUT_OF_MEMORY;
    w->message = message;
    w->message_capacity = message_capacity;

    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, w, on_write_error, on_write_warning);
    png_infop pinfo = png != NULL ? png_create_info_struct(png) : NULL;
    if (png == NULL || pinfo == NULL) {
        png_destroy_write_struct(&png, &pinfo);
        free(w);
        cimagecodecs_set_message(message, message_capacity, "out of memory creating the PNG writer");
        return CImageCodecs_OUT_OF_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        int status = w->out_of_memory ? CImageCodecs_OUT_OF_MEMORY : CImageCodecs_INVALID_ARGUMENT;
        png_destroy_write_struct(&png, &pinfo);
        free(w->buffer);
        free(w);
        return status;
    }
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_set_write_fn(png, w, on_write, on_flush);
    png_set_IHDR(png, pinfo, width, height, 8, color_types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    // Large images (photos) are written with zlib level 1: several times faster than the
    // default level 6, for files about a tenth larger. Small ones keep the default.
    if (content == CImageCodecs_PNG_FIGURE) {
        // Drawn figures: the adaptive filter search costs more than it saves.
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
        png_set_compression_level(png, 1);
    } else if ((size_t)width * (size_t)height * (size_t)channels > ((size_t)1 << 20)) {
        png_set_compression_level(png, 1);
    }
    png_write_info(png, pinfo);
    size_t row_bytes = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)pixels + (size_t)y * row_bytes);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &pinfo);

    *out = w->buffer;
    *out_size = w->size;
    free(w);
    return CImageCodecs_OK;
}
