# Writes a C++ source that defines bookd::api::OpenApiDocument() with the
# bytes of INPUT. Run at every build (cheap); OUTPUT is only rewritten when its
# content changes, so nothing recompiles needlessly.
#   cmake -DINPUT=<openapi.json> -DOUTPUT=<file.cc> -P embed_file.cmake
if(NOT EXISTS "${INPUT}")
  message(FATAL_ERROR "bookd: ${INPUT} is missing; /openapi.json is embedded from it, "
                      "so the build cannot continue without it.")
endif()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")

file(WRITE "${OUTPUT}.tmp"
"// Generated from ${INPUT} by embed_file.cmake. Do not edit.
#include \"api/openapi.h\"

namespace bookd::api {
namespace {
// A trailing 0 keeps the array non-empty when the document is.
const unsigned char kDocument[] = {
${bytes}0};
}  // namespace

std::string_view OpenApiDocument() {
  return std::string_view(reinterpret_cast<const char*>(kDocument), ${size});
}

}  // namespace bookd::api
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
