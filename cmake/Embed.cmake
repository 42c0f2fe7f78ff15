# ty_embed(TARGET DIR GLOB...): turn the files under DIR into a C array of
# {path, data, size} named <TARGET>_files, compiled into the static library
# TARGET.  Used for migrations/ and web/ so the binary carries them.
function(ty_embed target dir)
    set(_patterns "")
    foreach(p ${ARGN})
        list(APPEND _patterns "${dir}/${p}")
    endforeach()
    file(GLOB_RECURSE _files CONFIGURE_DEPENDS RELATIVE "${dir}" ${_patterns})
    list(SORT _files)
    string(REPLACE ";" "|" _files_arg "${_files}")
    set(_out "${CMAKE_CURRENT_BINARY_DIR}/gen/${target}.c")
    set(_abs "")
    foreach(f ${_files})
        list(APPEND _abs "${dir}/${f}")
    endforeach()
    add_custom_command(OUTPUT "${_out}"
        COMMAND ${CMAKE_COMMAND} -DOUT=${_out} -DDIR=${dir} -DNAME=${target}
                "-DFILES=${_files_arg}" -P "${CMAKE_CURRENT_SOURCE_DIR}/cmake/EmbedGen.cmake"
        DEPENDS ${_abs} "${CMAKE_CURRENT_SOURCE_DIR}/cmake/EmbedGen.cmake"
        COMMENT "Embedding ${dir}" VERBATIM)
    add_library(${target} STATIC "${_out}")
    target_include_directories(${target} PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/src")
endfunction()

ty_embed(ty_embed_migrations "${CMAKE_CURRENT_SOURCE_DIR}/migrations" "*.sql")
ty_embed(ty_embed_web "${CMAKE_CURRENT_SOURCE_DIR}/web" "*")
ty_embed(ty_embed_schema "${CMAKE_CURRENT_SOURCE_DIR}/schema" "openapi.yaml")
ty_embed(ty_embed_kubesim_openapi "${CMAKE_CURRENT_SOURCE_DIR}/src/kubesim/openapi" "schemas.json")
