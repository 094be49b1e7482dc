// Finds the route for a method and path: patterns split into segments once, matched segment
// by segment (no regular expressions: the work is linear in the path, whatever it holds).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "http/route.h"

namespace samcache {

// "GET" -> kGet; false for a method no route uses.
bool ParseMethod(std::string_view text, Method& method);
const char* MethodName(Method method);

struct RouteMatch {
  const Route* route = nullptr;  // null: no route for this method and path
  std::map<std::string, std::string> params;
  // With no route: the methods the path has routes for (a 405 names them), or empty (404).
  std::vector<Method> allowed;
};

class RouteMatcher {
 public:
  explicit RouteMatcher(const RouteTable& routes);

  RouteMatch Match(Method method, std::string_view path) const;

 private:
  struct Segment {
    std::string text;  // a literal, or a parameter's name
    bool param = false;
    bool rest = false;  // {name*}: the rest of the path
  };
  struct Compiled {
    const Route* route;
    std::vector<Segment> segments;
  };

  static bool MatchPattern(const Compiled& compiled, const std::vector<std::string_view>& parts,
                           std::map<std::string, std::string>* params);

  std::vector<Compiled> compiled_;
};

}  // namespace samcache
