// libjpeg(-turbo) behind status codes. The default error manager prints and calls
// exit(); ours formats the message into the caller's buffer and longjmps back to the
// frame that called setjmp. Warnings are errors too: libjpeg "recovers" from truncated
// or corrupt entropy-coded data by emitting a warning and filling the rest with grey,
// which for untrusted input would silently turn a broken file into a wrong image.
// All decoder state lives in one heap block allocated before setjmp, so it is valid
// after a longjmp.

#include "CImageCodecs.h"
#include "internal.h"

#include <stdio.h> // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/// Our error manager: libjpeg's, plus where to jump and what to report.
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int status;
    char *message;
    size_t message_capacity;
} error_manager;

/// Our progress monitor: counts scans so that a progressive file with thousands of
/// tiny scans (a known CPU-exhaustion attack) is stopped.
typedef struct {
    struct jpeg_progress_mgr pub;
    int max_scans;
} progress_monitor;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    error_manager error;
    progress_monitor progress;
} decoder;

static int status_for(int message_code, int is_warning) {
    switch (message_code) {
    case JWRN_JPEG_EOF:
    case JERR_INPUT_EMPTY:
    case JERR_INPUT_EOF:
        return CImageCodecs_TRUNCATED;
    case JERR_BAD_PRECISION:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_NOT_COMPILED:
        return CImageCodecs_UNSUPPORTED;
    case JERR_OUT_OF_MEMORY:
        return CImageCodecs_OUT_OF_MEMORY;
    case JERR_NO_BACKING_STORE:
    case JERR_IMAGE_TOO_BIG:
    case JERR_WIDTH_OVERFLOW:
        return CImageCodecs_LIMIT_EXCEEDED;
    default:
        (void)is_warning;
        return CImageCodecs_CORRUPT;
    }
}

/// Records the current libjpeg message and jumps back to the caller's setjmp.
static void fail(j_common_ptr cinfo, int is_warning) {
    error_manager *e = (error_manager *)cinfo->err;
    char text[JMSG_LENGTH_MAX + 64];
    if (e->pub.msg_code == JERR_BAD_PRECISION) {
        int bits = e->pub.msg_parm.i[0];
        snprintf(text, sizeof text, "%d-bit samples (JPEG data precision %d); only 8-bit JPEG is supported",
                 bits, bits);
    } else {
        (*cinfo->err->format_message)(cinfo, text);
    }
    cimagecodecs_set_message(e->message, e->message_capacity, text);
    e->status = status_for(e->pub.msg_code, is_warning);
    longjmp(e->jump, 1);
}

static void on_error_exit(j_common_ptr cinfo) { fail(cinfo, 0); }

static void on_emit_message(j_common_ptr cinfo, int level) {
    // level -1 is a warning (corrupt or missing data); 0 and up are trace messages.
    if (level < 0) fail(cinfo, 1);
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    decoder *d = (decoder *)cinfo; // cinfo is the first member of decoder
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (d->progress.max_scans > 0 && dinfo->input_scan_number > d->progress.max_scans) {
        error_manager *e = &d->error;
        char text[96];
        snprintf(text, sizeof text, "progressive JPEG has more than %d scans", d->progress.max_scans);
        cimagecodecs_set_message(e->message, e->message_capacity, text);
        e->status = CImageCodecs_LIMIT_EXCEEDED;
        longjmp(e->jump, 1);
    }
}

/// Zeroes `d` and installs the error manager and progress monitor. Does not call
/// libjpeg (so it cannot longjmp).
static void prepare(decoder *d, char *message, size_t message_capacity, int max_scans) {
    memset(d, 0, sizeof *d);
    d->cinfo.err = jpeg_std_error(&d->error.pub);
    d->error.pub.error_exit = on_error_exit;
    d->error.pub.emit_message = on_emit_message;
    d->error.pub.output_message = on_output_message;
    d->error.message = message;
    d->error.message_capacity = message_capacity;
    d->error.status = CImageCodecs_CORRUPT;
    d->progress.pub.progress_monitor = on_progress;
    d->progress.max_scans = max_scans;
}

static void describe(j_decompress_ptr cinfo, CImageCodecs_image_info *info) {
    memset(info, 0, sizeof *info);
    info->width = cinfo->image_width;
    info->height = cinfo->image_height;
    info->bit_depth = cinfo->data_precision;
    info->color_type = (int32_t)cinfo->jpeg_color_space;
    info->source_channels = cinfo->num_components;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: info->output_channels = cinfo->num_components == 1 ? 1 : 0; break;
    case JCS_YCbCr:
    case JCS_RGB: info->output_channels = cinfo->num_components == 3 ? 3 : 0; break;
    default: info->output_channels = 0; break; // CMYK, YCCK, unknown
    }
    info->has_alpha = 0;
    info->interlaced = cinfo->progressive_mode ? 1 : 0;
    info->arithmetic = cinfo->arith_code ? 1 : 0;
}

int CImageCodecs_jpeg_read_header(const void *data, size_t size,
                                  CImageCodecs_image_info *info,
                                  char *message, size_t message_capacity) {
    cimagecodecs_set_message(message, message_capacity, "");
    if (data == NULL || info == NULL) {
        cimagecodecs_set_message(message, message_capacity, "invalid arguments");
        return CImageCodecs_INVALID_ARGUMENT;
    }
    decoder *d = malloc(sizeof *d);
    if (d == NULL) return CImageCodecs_OUT_OF_MEMORY;
    prepare(d, message, message_capacity, 0);
    if (setjmp(d->error.jump)) {
        int status = d->error.status;
        jpeg_destroy_decompress(&d->cinfo);
        free(d);
        return status;
    }
    jpeg_create_decompress(&d->cinfo);
    d->cinfo.progress = &d->progress.pub;
    jpeg_mem_src(&d->cinfo, (const unsigned char *)data, (unsigned long)size);
    if (jpeg_read_header(&d->cinfo, TRUE) != JPEG_HEADER_OK) {
        d->error.status = CImageCodecs_CORRUPT;
        cimagecodecs_set_message(message, message_capacity, "JPEG stream holds tables but no image");
        longjmp(d->error.jump, 1);
    }
    describe(&d->cinfo, info);
    jpeg_destroy_decompress(&d->cinfo);
    free(d);
    return CImageCodecs_OK;
}

int CImageCodecs_jpeg_decode(const void *data, size_t size,
                             uint32_t expected_width, uint32_t expected_height,
                             int32_t expected_channels,
                             int32_t max_scans, size_t max_memory,
                             void *out, size_t out_size,
                             char *message, size_t message_capacity) {
    cimagecodecs_set_message(message, message_capacity, "");
    if (data == NULL || out == NULL || (expected_channels != 1 && expected_channels != 3)) {
        cimagecodecs_set_message(message, message_capacity, "invalid arguments");
        return CImageCodecs_INVALID_ARGUMENT;
    }
    decoder *d = malloc(sizeof *d);
    if (d == NULL) return CImageCodecs_OUT_OF_MEMORY;
    prepare(d, message, message_capacity, max_scans);
    if (setjmp(d->error.jump)) {
        int status = d->error.status;
        jpeg_destroy_decompress(&d->cinfo);
        free(d);
        return status;
    }
    jpeg_create_decompress(&d->cinfo);
    d->cinfo.progress = &d->progress.pub;
    if (max_memory > 0) d->cinfo.mem->max_memory_to_use = (long)max_memory;
    jpeg_mem_src(&d->cinfo, (const unsigned char *)data, (unsigned long)size);
    if (jpeg_read_header(&d->cinfo, TRUE) != JPEG_HEADER_OK) {
        d->error.status = CImageCodecs_CORRUPT;
        cimagecodecs_set_message(message, message_capacity, "JPEG stream holds tables but no image");
        longjmp(d->error.jump, 1);
    }
    CImageCodecs_image_info info;
    describe(&d->cinfo, &info);
    size_t row_bytes = (size_t)info.width * (size_t)expected_channels;
    if (info.width != expected_width || info.height != expected_height ||
        info.output_channels != expected_channels) {
        d->error.status = CImageCodecs_INVALID_ARGUMENT;
        cimagecodecs_set_message(message, message_capacity, "the JPEG header differs from the one read before");
        longjmp(d->error.jump, 1);
    }
    if (info.height != 0 && row_bytes > out_size / info.height) {
        d->error.status = CImageCodecs_INVALID_ARGUMENT;
        cimagecodecs_set_message(message, message_capacity, "output buffer too small");
        longjmp(d->error.jump, 1);
    }
    d->cinfo.out_color_space = expected_channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    d->cinfo.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&d->cinfo);
    if (d->cinfo.output_width != info.width || d->cinfo.output_height != info.height ||
        d->cinfo.output_components != expected_channels) {
        d->error.status = CImageCodecs_UNSUPPORTED;
        cimagecodecs_set_message(message, message_capacity, "unexpected JPEG output layout");
        longjmp(d->error.jump, 1);
    }
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        JSAMPROW row = (JSAMPROW)out + (size_t)d->cinfo.output_scanline * row_bytes;
        if (jpeg_read_scanlines(&d->cinfo, &row, 1) != 1) {
            d->error.status = CImageCodecs_TRUNCATED;
            cimagecodecs_set_message(message, message_capacity, "JPEG data ends before the last row");
            longjmp(d->error.jump, 1);
        }
    }
    jpeg_finish_decompress(&d->cinfo);
    jpeg_destroy_decompress(&d->cinfo);
    free(d);
    return CImageCodecs_OK;
}
