// cairo with its FreeType font backend: figures are drawn on cairo image surfaces and
// text is set in a TrueType font loaded directly with FreeType (no fontconfig lookup).
#include <cairo.h>
#include <cairo-ft.h>
#include <ft2build.h>
#include FT_FREETYPE_H
