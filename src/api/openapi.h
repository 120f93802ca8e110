// The OpenAPI document (src/api/openapi.json), embedded into the binary at
// build time by src/api/embed_file.cmake so that /openapi.json needs no file.
#pragma once

#include <string_view>

namespace bookd::api {

std::string_view OpenApiDocument();

}  // namespace bookd::api
