# FindCivetWeb: Debian ships libcivetweb-dev without a pkg-config file and with a
# CMake package that points at files it does not install, so look for the header
# and the library ourselves.  Defines CivetWeb_FOUND and the imported target
# CivetWeb::CivetWeb.
find_path(CivetWeb_INCLUDE_DIR NAMES civetweb.h)
find_library(CivetWeb_LIBRARY NAMES civetweb)
if(CivetWeb_INCLUDE_DIR AND EXISTS "${CivetWeb_INCLUDE_DIR}/civetweb.h")
    file(STRINGS "${CivetWeb_INCLUDE_DIR}/civetweb.h" _cw_ver
         REGEX "^#define CIVETWEB_VERSION \"[0-9.]+\"")
    string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" CivetWeb_VERSION "${_cw_ver}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CivetWeb
    REQUIRED_VARS CivetWeb_LIBRARY CivetWeb_INCLUDE_DIR
    VERSION_VAR CivetWeb_VERSION)
if(CivetWeb_FOUND AND NOT TARGET CivetWeb::CivetWeb)
    add_library(CivetWeb::CivetWeb UNKNOWN IMPORTED)
    set_target_properties(CivetWeb::CivetWeb PROPERTIES
        IMPORTED_LOCATION "${CivetWeb_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${CivetWeb_INCLUDE_DIR}")
endif()
mark_as_advanced(CivetWeb_INCLUDE_DIR CivetWeb_LIBRARY)
