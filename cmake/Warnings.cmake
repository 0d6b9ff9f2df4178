add_library(mb_warnings INTERFACE)
target_compile_options(mb_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                             -Wnon-virtual-dtor -Wno-missing-field-initializers)
option(MODELBAKE_WERROR "Treat warnings as errors" OFF)
if(MODELBAKE_WERROR)
  target_compile_options(mb_warnings INTERFACE -Werror)
endif()
