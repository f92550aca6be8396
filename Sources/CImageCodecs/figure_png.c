// A PNG encoder for drawn figures that are written for every job (the daemon's
// preview.png), where zlib's level 1 cost more than drawing the figure.
//
// Drawn figures repeat themselves in two ways: a pixel repeats the one before it (flat
// areas, pictures scaled up by whole factors) and a row repeats the one above it (the
// same scaling, margins). The LZ77 stage here looks for repeats at exactly those two
// distances, one pixel and one row back, and writes everything else as literals, all in
// one deflate block with the fixed Huffman codes (RFC 1951, 3.2.6). The rows carry no
// filter (type 0); the zlib stream's Adler-32 runs 32 bytes a step with AVX2 where the
// CPU has it. The result is an ordinary PNG that any decoder reads.

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "CImageCodecs.h"
#include "internal.h"

/// Deflate's longest match and farthest distance.
enum { MAX_MATCH = 258, MAX_DISTANCE = 32768 };

/// Bits are packed from the least significant end (RFC 1951, 3.1.1).
typedef struct {
    uint8_t *out;
    size_t size;
    uint64_t bits;
    int count;
} bit_writer;

/// Appends the `count` (at most 32) low bits of `bits`.
static inline void put_bits(bit_writer *w, uint32_t bits, int count) {
    w->bits |= (uint64_t)bits << w->count;
    w->count += count;
    if (w->count >= 32) {
        uint32_t low = (uint32_t)w->bits;
        w->out[w->size] = (uint8_t)low;
        w->out[w->size + 1] = (uint8_t)(low >> 8);
        w->out[w->size + 2] = (uint8_t)(low >> 16);
        w->out[w->size + 3] = (uint8_t)(low >> 24);
        w->size += 4;
        w->bits >>= 32;
        w->count -= 32;
    }
}

/// Writes the remaining bits, padding the last byte with zeros.
static void flush_bits(bit_writer *w) {
    while (w->count > 0) {
        w->out[w->size++] = (uint8_t)w->bits;
        w->bits >>= 8;
        w->count -= 8;
    }
    w->bits = 0;
    w->count = 0;
}

/// Huffman codes are sent most significant bit first: reversed for the bit writer.
static uint32_t reverse_bits(uint32_t code, int length) {
    uint32_t reversed = 0;
    for (int i = 0; i < length; i++) reversed |= ((code >> i) & 1u) << (length - 1 - i);
    return reversed;
}

/// A symbol with its extra bits, ready for put_bits.
typedef struct {
    uint32_t bits;
    int count;
} code_bits;

/// The fixed literal/length code of `symbol` (0…287), reversed.
static code_bits fixed_literal_code(int symbol) {
    if (symbol < 144) return (code_bits){reverse_bits(0x30u + (uint32_t)symbol, 8), 8};
    if (symbol < 256) return (code_bits){reverse_bits(0x190u + (uint32_t)(symbol - 144), 9), 9};
    if (symbol < 280) return (code_bits){reverse_bits((uint32_t)(symbol - 256), 7), 7};
    return (code_bits){reverse_bits(0xC0u + (uint32_t)(symbol - 280), 8), 8};
}

/// The code and extra bits of a match length (3…258).
static code_bits length_code(int length) {
    static const uint16_t base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const uint8_t extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    int index = 28;
    while (base[index] > length) index--;
    code_bits code = fixed_literal_code(257 + index);
    code.bits |= (uint32_t)(length - base[index]) << code.count;
    code.count += extra[index];
    return code;
}

/// The code and extra bits of a distance (1…32768); distance codes are five bits.
static code_bits distance_code(int distance) {
    static const uint16_t base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                      193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    int index = 29;
    while (base[index] > distance) index--;
    int extra = index < 4 ? 0 : index / 2 - 1;
    code_bits code = {reverse_bits((uint32_t)index, 5), 5};
    code.bits |= (uint32_t)(distance - base[index]) << 5;
    code.count += extra;
    return code;
}

/// How many bytes from `at` on (at most `limit`) equal those `distance` bytes before.
static inline size_t match_length(const uint8_t *data, size_t at, size_t distance, size_t limit) {
    const uint8_t *a = data + at, *b = data + at - distance;
    size_t n = 0;
    while (n + 8 <= limit) {
        uint64_t x, y;
        memcpy(&x, a + n, 8);
        memcpy(&y, b + n, 8);
        if (x != y) return n + (size_t)(__builtin_ctzll(x ^ y) >> 3);
        n += 8;
    }
    while (n < limit && a[n] == b[n]) n++;
    return n;
}

/// Big-endian 32-bit store.
static void put_u32(uint8_t *at, uint32_t value) {
    at[0] = (uint8_t)(value >> 24);
    at[1] = (uint8_t)(value >> 16);
    at[2] = (uint8_t)(value >> 8);
    at[3] = (uint8_t)value;
}

/// Appends a chunk (length, type, data, CRC) at `out`; returns the bytes written.
static size_t put_chunk(uint8_t *out, const char type[4], const uint8_t *data, size_t length) {
    put_u32(out, (uint32_t)length);
    memcpy(out + 4, type, 4);
    if (length > 0) memcpy(out + 8, data, length);
    uLong crc = crc32(0L, out + 4, 4);
    size_t done = 0;
    while (done < length) {  // crc32 takes a uInt length
        uInt part = (uInt)(length - done > (1u << 30) ? (1u << 30) : length - done);
        crc = crc32(crc, data + done, part);
        done += part;
    }
    put_u32(out + 8 + length, (uint32_t)crc);
    return 12 + length;
}

/// Adler-32's modulus, and the most bytes (a multiple of 32) whose sums cannot overflow
/// 32 bits before they are reduced (zlib's NMAX is 5552).
enum { ADLER_BASE = 65521, ADLER_BLOCK = 5536 };

#if defined(__x86_64__)
/// Adler-32 with AVX2, 32 bytes a step: the plain sum of each step's bytes is added to s1
/// and, weighted 32 … 1 by their position, to s2, which also gains 32 × s1 as it was
/// before the step (RFC 1950, 8.2). zlib's own loop takes one byte a step.
__attribute__((target("avx2"))) static uint32_t adler32_avx2(uint32_t adler, const uint8_t *data, size_t size) {
    uint64_t s1 = adler & 0xffff, s2 = adler >> 16;
    const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi16(1);
    const __m256i weights = _mm256_setr_epi8(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
                                             16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    while (size >= 32) {
        size_t steps = (size < ADLER_BLOCK ? size : ADLER_BLOCK) / 32;
        __m256i sums = zero, earlier = zero, weighted = zero;
        for (size_t step = 0; step < steps; step++, data += 32) {
            __m256i bytes = _mm256_loadu_si256((const __m256i *)data);
            earlier = _mm256_add_epi32(earlier, sums);  // each step's s1 counts 32 times in s2
            sums = _mm256_add_epi32(sums, _mm256_sad_epu8(bytes, zero));
            weighted = _mm256_add_epi32(weighted, _mm256_madd_epi16(_mm256_maddubs_epi16(bytes, weights), ones));
        }
        uint32_t lanes[3][8];
        _mm256_storeu_si256((__m256i *)lanes[0], sums);
        _mm256_storeu_si256((__m256i *)lanes[1], earlier);
        _mm256_storeu_si256((__m256i *)lanes[2], weighted);
        uint64_t total = 0, before = 0, position = 0;
        for (int i = 0; i < 8; i++) total += lanes[0][i], before += lanes[1][i], position += lanes[2][i];
        s2 = (s2 + 32 * steps * s1 + 32 * before + position) % ADLER_BASE;
        s1 = (s1 + total) % ADLER_BASE;
        size -= steps * 32;
    }
    for (; size > 0; size--) {
        s1 += *data++;
        s2 += s1;
    }
    return (uint32_t)((s2 % ADLER_BASE) << 16 | (s1 % ADLER_BASE));
}
#endif

/// Adler-32 of `size` bytes: the AVX2 loop where the CPU has it, else zlib's.
static uint32_t adler32_of(const uint8_t *data, size_t size) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return adler32_avx2(1, data, size);
#endif
    uLong sum = adler32(0L, Z_NULL, 0);
    for (size_t done = 0; done < size;) {  // adler32 takes a uInt length
        uInt part = (uInt)(size - done > (1u << 30) ? (1u << 30) : size - done);
        sum = adler32(sum, data + done, part);
        done += part;
    }
    return (uint32_t)sum;
}

int cimagecodecs_png_encode_figure(const uint8_t *pixels, uint32_t width, uint32_t height, int32_t channels,
                                   void **out, size_t *out_size, char *message, size_t message_capacity) {
    static const uint8_t color_types[5] = {0, 0, 4, 2, 6};
    size_t row_bytes = (size_t)width * (size_t)channels;
    size_t stride = row_bytes + 1;
    if (width > 0x7fffffffu || height > 0x7fffffffu || stride > SIZE_MAX / height) {
        cimagecodecs_set_message(message, message_capacity, "image too large for PNG");
        return CImageCodecs_INVALID_ARGUMENT;
    }
    size_t raw_size = stride * (size_t)height;
    // A literal costs at most 9 bits and a match of n ≥ 3 bytes at most 31: never more
    // than 11 bits a byte, plus the block header and the zlib header and checksum.
    if (raw_size > (SIZE_MAX - 64) / 2) {
        cimagecodecs_set_message(message, message_capacity, "image too large for PNG");
        return CImageCodecs_INVALID_ARGUMENT;
    }
    size_t stream_capacity = raw_size + raw_size / 2 + 64;
    uint8_t *rows = malloc(raw_size);
    uint8_t *stream = malloc(stream_capacity);
    if (rows == NULL || stream == NULL) {
        free(rows);
        free(stream);
        cimagecodecs_set_message(message, message_capacity, "out of memory encoding a PNG");
        return CImageCodecs_OUT_OF_MEMORY;
    }
    for (size_t y = 0; y < height; y++) {
        rows[y * stride] = 0;  // filter type None
        memcpy(rows + y * stride + 1, pixels + y * row_bytes, row_bytes);
    }

    code_bits literals[256];
    for (int i = 0; i < 256; i++) literals[i] = fixed_literal_code(i);
    code_bits lengths[MAX_MATCH + 1];
    for (int n = 3; n <= MAX_MATCH; n++) lengths[n] = length_code(n);
    size_t pixel_distance = (size_t)channels;
    size_t row_distance = stride <= MAX_DISTANCE ? stride : 0;  // 0: rows too long to refer back to
    code_bits pixel_code = distance_code((int)pixel_distance);
    code_bits row_code = row_distance ? distance_code((int)row_distance) : (code_bits){0, 0};

    bit_writer w = {stream, 0, 0, 0};
    w.out[w.size++] = 0x78;  // zlib: deflate, 32 KiB window
    w.out[w.size++] = 0x01;  // no preset dictionary, fastest; (0x7801 % 31 == 0)
    put_bits(&w, 1, 1);      // the final block
    put_bits(&w, 1, 2);      // fixed Huffman codes
    size_t at = 0;
    while (at < raw_size) {
        size_t limit = raw_size - at < MAX_MATCH ? raw_size - at : MAX_MATCH;
        size_t by_row = row_distance && at >= row_distance ? match_length(rows, at, row_distance, limit) : 0;
        size_t by_pixel = by_row < limit && at >= pixel_distance ? match_length(rows, at, pixel_distance, limit) : 0;
        size_t length = by_row >= by_pixel ? by_row : by_pixel;
        if (length >= 3) {
            code_bits distance = by_row >= by_pixel ? row_code : pixel_code;
            put_bits(&w, lengths[length].bits, lengths[length].count);
            put_bits(&w, distance.bits, distance.count);
            at += length;
        } else {
            put_bits(&w, literals[rows[at]].bits, literals[rows[at]].count);
            at += 1;
        }
    }
    code_bits end = fixed_literal_code(256);
    put_bits(&w, end.bits, end.count);
    flush_bits(&w);
    put_u32(w.out + w.size, adler32_of(rows, raw_size));
    w.size += 4;
    free(rows);

    // Signature, IHDR, the stream in IDAT chunks of at most 1 GiB, IEND.
    size_t chunk_limit = (size_t)1 << 30;
    size_t chunks = (w.size + chunk_limit - 1) / chunk_limit;
    size_t total = 8 + 25 + w.size + 12 * chunks + 12;
    uint8_t *file = malloc(total);
    if (file == NULL) {
        free(stream);
        cimagecodecs_set_message(message, message_capacity, "out of memory encoding a PNG");
        return CImageCodecs_OUT_OF_MEMORY;
    }
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(file, signature, 8);
    size_t size = 8;
    uint8_t header[13];
    put_u32(header, width);
    put_u32(header + 4, height);
    header[8] = 8;  // bit depth
    header[9] = color_types[channels];
    header[10] = header[11] = header[12] = 0;  // deflate, adaptive filtering, no interlace
    size += put_chunk(file + size, "IHDR", header, 13);
    for (size_t done = 0; done < w.size; done += chunk_limit) {
        size_t length = w.size - done < chunk_limit ? w.size - done : chunk_limit;
        size += put_chunk(file + size, "IDAT", stream + done, length);
    }
    size += put_chunk(file + size, "IEND", NULL, 0);
    free(stream);
    *out = file;
    *out_size = size;
    return CImageCodecs_OK;
}
