#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
// Thin wrappers around libpng and libjpeg(-turbo) for the Swift `Imaging` module.
//
// Both libraries report errors by longjmp-ing out of a callback. A longjmp across
// Swift frames is undefined behaviour, so every setjmp/longjmp lives in this target:
// each function below sets up the library's error manager, makes its library calls
// in the frame that called setjmp, and returns a plain status code (one of the
// CImageCodecs_* values below) plus a NUL-terminated message written into a
// caller-provided buffer. No function prints anything or calls exit().
//
// Decoding is two-phase so that the caller can check size limits before it allocates
// anything large: `*_read_header` parses only the headers and fills a
// `CImageCodecs_image_info`; the caller checks it against its limits, allocates
// `width * height * output_channels` bytes and calls `*_decode`, which parses the
// headers again, checks that they still describe the same image, and decodes into
// that buffer. All decoders read from a memory buffer; none keeps state between calls,
// so every function is safe to call from several threads at once.

#include <stddef.h>
#include <stdint.h>

// MARK: - Status codes

/// Success.
#define CImageCodecs_OK 0
/// The data is malformed (bad CRC, bad chunk or marker, invalid header field...).
#define CImageCodecs_CORRUPT 1
/// The data ends before the image does.
#define CImageCodecs_TRUNCATED 2
/// Well-formed, but a kind of image this shim does not decode (e.g. 12-bit JPEG).
#define CImageCodecs_UNSUPPORTED 3
/// malloc failed.
#define CImageCodecs_OUT_OF_MEMORY 4
/// A resource cap was hit: image size above the caller's limits, too many
/// progressive scans, or more decoder working memory than allowed.
#define CImageCodecs_LIMIT_EXCEEDED 5
/// The caller passed inconsistent arguments (buffer too small, channel count...),
/// or the data changed between the header and the decode call.
#define CImageCodecs_INVALID_ARGUMENT 6

// MARK: - Image description

/// What the header of a PNG or JPEG says, and what `*_decode` will produce from it.
typedef struct CImageCodecs_image_info {
    /// Width and height in pixels, as declared by the header.
    uint32_t width;
    uint32_t height;
    /// Bits per sample: PNG 1, 2, 4, 8 or 16; JPEG data precision (8 or 12).
    int32_t bit_depth;
    /// PNG colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA), or the
    /// JPEG colour space (libjpeg's J_COLOR_SPACE: 1 gray, 2 RGB, 3 YCbCr, 4 CMYK, 5 YCCK).
    int32_t color_type;
    /// Colour components stored in the file (PNG: per colour type, palette = 1;
    /// JPEG: number of components in the frame).
    int32_t source_channels;
    /// 8-bit samples per pixel that `*_decode` writes: 1 gray, 2 gray+alpha, 3 RGB,
    /// 4 RGBA; 0 when the colour space cannot be decoded (JPEG CMYK/YCCK, unknown).
    int32_t output_channels;
    /// 1 when the output has an alpha channel (an alpha colour type or a tRNS chunk).
    int32_t has_alpha;
    /// 1 for an Adam7-interlaced PNG or a progressive JPEG.
    int32_t interlaced;
    /// 1 for an arithmetic-coded JPEG.
    int32_t arithmetic;
} CImageCodecs_image_info;

// MARK: - Versions

/// libpng's version number (e.g. 10639), for diagnostics.
int CImageCodecs_png_version(void);
/// libjpeg's API version (62 for libjpeg-turbo's libjpeg 6b ABI), for diagnostics.
int CImageCodecs_jpeg_version(void);

// MARK: - PNG

/// Parses a PNG's signature and the chunks before the first IDAT (with CRC checks)
/// and describes the image. Allocates nothing that scales with the image: exists so
/// the caller can refuse a decompression bomb before allocating its pixels.
/// libpng's own width/height cap is lifted here (the caller decides); ancillary chunks
/// are capped at 8 MiB.
int CImageCodecs_png_read_header(const void *data, size_t size,
                                 CImageCodecs_image_info *info,
                                 char *message, size_t message_capacity);

/// Decodes a PNG into `out` as 8-bit samples, `info.output_channels` per pixel, rows
/// top to bottom without padding. Exists to pin the transformations: palettes expand
/// to RGB, low bit depths expand to 8 bits, tRNS becomes an alpha channel, 16-bit
/// samples are scaled with rounding (png_set_scale_16, v*255/65535 rounded, not
/// truncated); no gamma or colour-space conversion is applied. Interlaced images are
/// de-interlaced. `max_width`/`max_height` go to png_set_user_limits as a second line
/// of defence. The image must match `expected_width`, `expected_height` and
/// `expected_channels` (from the header call), and `out_size` must hold it.
int CImageCodecs_png_decode(const void *data, size_t size,
                            uint32_t expected_width, uint32_t expected_height,
                            int32_t expected_channels,
                            uint32_t max_width, uint32_t max_height,
                            void *out, size_t out_size,
                            char *message, size_t message_capacity);

/// What a PNG holds, which sets how it is compressed.
enum {
    /// Photographs: libpng's adaptive row filters; zlib level 1 (fast) over 1 MiB of
    /// samples, the default level below.
    CImageCodecs_PNG_PHOTO = 0,
    /// Drawn figures (flat areas, text): no row filter and zlib level 1, several times
    /// faster than the adaptive filters for files of about the same size.
    CImageCodecs_PNG_FIGURE = 1,
    /// Drawn figures written for every job (previews): this target's own encoder, which
    /// looks for repeats one pixel and one row back only and uses deflate's fixed codes:
    /// several times faster than zlib level 1, for somewhat larger files.
    CImageCodecs_PNG_JOB_FIGURE = 2,
};

/// Encodes 8-bit interleaved samples (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA per pixel,
/// rows without padding) as a non-interlaced PNG, compressed as `content` says
/// (CImageCodecs_PNG_PHOTO, CImageCodecs_PNG_FIGURE or CImageCodecs_PNG_JOB_FIGURE). Exists because the encoder's output
/// size is unknown in advance: on success `*out` is a malloc'd buffer of `*out_size`
/// bytes that the caller must release with CImageCodecs_free; on failure `*out` is NULL.
int CImageCodecs_png_encode(const void *pixels, uint32_t width, uint32_t height,
                            int32_t channels, int32_t content,
                            void **out, size_t *out_size,
                            char *message, size_t message_capacity);

// MARK: - JPEG

/// Parses a JPEG's markers up to the first scan (jpeg_read_header) and describes the
/// image. Exists so the caller can check the declared size before anything large is
/// allocated, and refuse colour spaces it does not handle. 12-bit data is refused here
/// with CImageCodecs_UNSUPPORTED. libjpeg warnings (e.g. premature end of data) are
/// treated as errors.
int CImageCodecs_jpeg_read_header(const void *data, size_t size,
                                  CImageCodecs_image_info *info,
                                  char *message, size_t message_capacity);

/// Decodes a gray, YCbCr or RGB JPEG (baseline, progressive or arithmetic-coded) into
/// `out` as 8-bit gray (`expected_channels` 1) or RGB (3). Exists to keep libjpeg's
/// error manager in C: `error_exit` longjmps back here instead of calling exit(), and
/// every warning (truncated or corrupt entropy data, which libjpeg would otherwise
/// paper over with grey rows) is an error. A progress monitor stops after `max_scans`
/// scans and `max_memory` caps libjpeg's working memory (max_memory_to_use); 0 means
/// no cap for either.
int CImageCodecs_jpeg_decode(const void *data, size_t size,
                             uint32_t expected_width, uint32_t expected_height,
                             int32_t expected_channels,
                             int32_t max_scans, size_t max_memory,
                             void *out, size_t out_size,
                             char *message, size_t message_capacity);

// MARK: - Memory

/// Releases a buffer this target allocated (CImageCodecs_png_encode's output). Exists
/// so that Swift never pairs its own allocator with C's malloc.
void CImageCodecs_free(void *pointer);

#endif
