# -DMODELBAKE_SANITIZE=address,undefined (or thread) for debug runs of the test suite.
set(MODELBAKE_SANITIZE "" CACHE STRING "Comma-separated sanitizers to enable")
if(MODELBAKE_SANITIZE)
  add_compile_options(-fsanitize=${MODELBAKE_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${MODELBAKE_SANITIZE})
endif()
