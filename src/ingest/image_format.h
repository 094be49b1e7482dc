// Moved to image/image_format.h. Only tools/samcache/main.cpp still includes this path (it is being
// split in parallel); delete this file once its includes name image/.
#pragma once

#include "image/image_format.h"
