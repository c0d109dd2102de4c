# Warning and sanitizer flags, applied to Serenity's own targets through
# serenity_target_defaults().
add_library(serenity_build_flags INTERFACE)
target_compile_options(serenity_build_flags INTERFACE -Wall -Wextra)
if(SERENITY_WERROR)
  target_compile_options(serenity_build_flags INTERFACE -Werror)
endif()

if(SERENITY_SANITIZE)
  add_compile_options(-fsanitize=${SERENITY_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${SERENITY_SANITIZE})
endif()

# Applies Serenity's warning flags to a target.
function(serenity_target_defaults target)
  target_link_libraries(${target} PRIVATE serenity_build_flags)
endfunction()
