#include "CImageCodecs.h"
#include <png.h>
int CImageCodecs_png_version(void) { return (int)png_access_version_number(); }
