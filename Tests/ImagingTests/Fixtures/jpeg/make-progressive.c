/* Lossless baseline -> progressive transcode (what `jpegtran -progressive` does). */
#include <stdio.h>
#include <jpeglib.h>
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    if (!in || !out) return 1;
    struct jpeg_decompress_struct src; struct jpeg_compress_struct dst;
    struct jpeg_error_mgr e1, e2;
    src.err = jpeg_std_error(&e1); dst.err = jpeg_std_error(&e2);
    jpeg_create_decompress(&src); jpeg_create_compress(&dst);
    jpeg_stdio_src(&src, in);
    jpeg_read_header(&src, TRUE);
    jvirt_barray_ptr *coef = jpeg_read_coefficients(&src);
    jpeg_copy_critical_parameters(&src, &dst);
    jpeg_simple_progression(&dst);
    jpeg_stdio_dest(&dst, out);
    jpeg_write_coefficients(&dst, coef);
    jpeg_finish_compress(&dst); jpeg_destroy_compress(&dst);
    jpeg_finish_decompress(&src); jpeg_destroy_decompress(&src);
    fclose(in); fclose(out);
    return 0;
}
