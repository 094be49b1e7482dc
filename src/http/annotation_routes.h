// Labelling endpoints: annotations (named masks) per image, the dataset's COCO export, and
// the embedding warm-up a labelling page asks for ahead of the next image.
#pragma once

#include <httplib.h>

namespace samcache {

class App;

void AddAnnotationRoutes(httplib::Server& server, App& app);

}  // namespace samcache
