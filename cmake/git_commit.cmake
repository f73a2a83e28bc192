# Run at every build (cli/CMakeLists.txt): writes OUT, a C++ file defining effitune_git_commit(), with
# the checkout's commit (and "-dirty" when tracked files differ from it), rewriting the file only when
# that changes so that an unchanged tree rebuilds nothing. A configure-time stamp went stale in
# incremental builds, and studies record it as the engine's version.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT commit)
  set(commit "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
                  OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(dirty)
    string(APPEND commit "-dirty")
  endif()
endif()
set(content "// Generated at build time by cmake/git_commit.cmake; do not edit.\n#include \"git_commit.h\"\n\nconst char* effitune_git_commit() { return \"${commit}\"; }\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL content)
  file(WRITE ${OUT} "${content}")
endif()
