// The key=value option parsing the bench tools share: a comma-separated value as its non-empty items.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace effitune::tools {

inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace effitune::tools
