# IE registry subset, ebpfix enterprise IEs + template definitions -> C++ header in the
# build tree.
# A bad definition (unknown element, length that does not fit its type) fails the build
# with FILE:LINE from the generator.
# Cache (internal) so exporter/ipfix and test/ipfix see them outside this directory scope.
set(EBPFIX_TEMPLATES_DIR ${CMAKE_CURRENT_LIST_DIR} CACHE INTERNAL "templates/ data")
set(EBPFIX_TEMPLATES_GENERATOR ${EBPFIX_TEMPLATES_DIR}/gen_templates.py CACHE INTERNAL "template generator")
set(EBPFIX_TEMPLATES_INCLUDE_DIR ${CMAKE_BINARY_DIR}/generated CACHE INTERNAL "generated headers")
set(EBPFIX_TEMPLATES_HEADER ${EBPFIX_TEMPLATES_INCLUDE_DIR}/templates_gen/ebpfix_templates.hpp
    CACHE INTERNAL "generated template header")

add_custom_command(
  OUTPUT ${EBPFIX_TEMPLATES_HEADER}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${EBPFIX_TEMPLATES_INCLUDE_DIR}/templates_gen
  COMMAND Python3::Interpreter ${EBPFIX_TEMPLATES_GENERATOR}
          --elements ${EBPFIX_TEMPLATES_DIR}/information_elements.csv
          --enterprise-elements ${EBPFIX_TEMPLATES_DIR}/enterprise_elements.csv
          --templates ${EBPFIX_TEMPLATES_DIR}/templates.def
          --output ${EBPFIX_TEMPLATES_HEADER}
  DEPENDS ${EBPFIX_TEMPLATES_GENERATOR}
          ${EBPFIX_TEMPLATES_DIR}/information_elements.csv
          ${EBPFIX_TEMPLATES_DIR}/enterprise_elements.csv
          ${EBPFIX_TEMPLATES_DIR}/templates.def
  COMMENT "Generating IPFIX / NetFlow v9 templates from templates/"
  VERBATIM)
add_custom_target(ebpfix_templates_gen DEPENDS ${EBPFIX_TEMPLATES_HEADER})

# Header-only: include "templates_gen/ebpfix_templates.hpp".
add_library(ebpfix_templates INTERFACE)
target_include_directories(ebpfix_templates INTERFACE ${EBPFIX_TEMPLATES_INCLUDE_DIR})
add_dependencies(ebpfix_templates ebpfix_templates_gen)
