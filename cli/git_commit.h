// The commit this binary was built from (short hash, "-dirty" when tracked files had changes,
// "unknown" outside a git checkout), stamped at every build by cmake/git_commit.cmake.
#pragma once

const char* effitune_git_commit();
