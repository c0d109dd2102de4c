# Warning and sanitizer flags for Serenity's own targets.

if(SERENITY_SANITIZE)
  add_compile_options(-fsanitize=${SERENITY_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${SERENITY_SANITIZE})
endif()

# Applies Serenity's warning flags to a target. Compile options rather than a
# linked interface library, so nothing build-only leaks into installed exports.
function(serenity_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(SERENITY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
