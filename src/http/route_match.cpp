#include "http/route_match.h"

#include <algorithm>

namespace samcache {
namespace {

// "/a/b/c" -> {"a", "b", "c"}; "/" -> {""}.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      parts.push_back(path.substr(start));
      return parts;
    }
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace

bool ParseMethod(std::string_view text, Method& method) {
  if (text == "GET" || text == "HEAD") {
    method = Method::kGet;
  } else if (text == "POST") {
    method = Method::kPost;
  } else if (text == "PUT") {
    method = Method::kPut;
  } else if (text == "DELETE") {
    method = Method::kDelete;
  } else {
    return false;
  }
  return true;
}

const char* MethodName(Method method) {
  switch (method) {
    case Method::kGet:
      return "GET";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kDelete:
      return "DELETE";
  }
  return "GET";
}

RouteMatcher::RouteMatcher(const RouteTable& routes) {
  for (const Route& route : routes) {
    Compiled compiled{&route, {}};
    for (std::string_view part : SplitPath(route.pattern)) {
      Segment segment;
      if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
        segment.param = true;
        segment.text = std::string(part.substr(1, part.size() - 2));
        if (!segment.text.empty() && segment.text.back() == '*') {
          segment.text.pop_back();
          segment.rest = true;
        }
      } else {
        segment.text = std::string(part);
      }
      compiled.segments.push_back(std::move(segment));
    }
    compiled_.push_back(std::move(compiled));
  }
}

bool RouteMatcher::MatchPattern(const Compiled& compiled, const std::vector<std::string_view>& parts,
                                std::map<std::string, std::string>* params) {
  const std::vector<Segment>& segments = compiled.segments;
  for (size_t i = 0; i < segments.size(); ++i) {
    const Segment& segment = segments[i];
    if (segment.rest) {
      if (i >= parts.size()) return false;
      if (params != nullptr) {
        std::string rest;
        for (size_t j = i; j < parts.size(); ++j) {
          if (j > i) rest += '/';
          rest += parts[j];
        }
        (*params)[segment.text] = std::move(rest);
      }
      return true;
    }
    if (i >= parts.size()) return false;
    if (segment.param) {
      if (parts[i].empty()) return false;
      if (params != nullptr) (*params)[segment.text] = std::string(parts[i]);
    } else if (segment.text != parts[i]) {
      return false;
    }
  }
  return segments.size() == parts.size();
}

RouteMatch RouteMatcher::Match(Method method, std::string_view path) const {
  const std::vector<std::string_view> parts = SplitPath(path);
  RouteMatch match;
  for (const Compiled& compiled : compiled_) {
    if (compiled.route->method != method) continue;
    std::map<std::string, std::string> params;
    if (MatchPattern(compiled, parts, &params)) {
      match.route = compiled.route;
      match.params = std::move(params);
      return match;
    }
  }
  for (const Compiled& compiled : compiled_) {
    if (MatchPattern(compiled, parts, nullptr) && std::find(match.allowed.begin(), match.allowed.end(),
                                                            compiled.route->method) == match.allowed.end()) {
      match.allowed.push_back(compiled.route->method);
    }
  }
  return match;
}

}  // namespace samcache
