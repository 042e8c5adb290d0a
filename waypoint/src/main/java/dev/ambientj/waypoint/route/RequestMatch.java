package dev.ambientj.waypoint.route;

import java.util.List;

/**
 * One match block of a route: every present condition must hold (AND). A route holds a list of
 * these, any of which may match (OR), as VirtualService {@code match} and HTTPRoute {@code matches}.
 *
 * @param uri the path condition, or null for any path
 * @param method the method condition, or null
 * @param authority the {@code Host} condition, or null
 * @param headers header conditions (including {@code withoutHeaders})
 * @param queryParams query parameter conditions
 * @param port the service port the request must have arrived on; 0 for any
 */
public record RequestMatch(
    StringMatcher uri,
    StringMatcher method,
    StringMatcher authority,
    List<HeaderMatch> headers,
    List<HeaderMatch> queryParams,
    int port) {

  public static final RequestMatch ANY = new RequestMatch(null, null, null, List.of(), List.of(), 0);

  public RequestMatch {
    headers = List.copyOf(headers);
    queryParams = List.copyOf(queryParams);
  }

  public boolean matches(RouteRequest r) {
    if (port != 0 && port != r.port()) {
      return false;
    }
    if (uri != null && !uri.matches(r.path())) {
      return false;
    }
    if (method != null && !method.matches(r.method())) {
      return false;
    }
    if (authority != null && !authority.matches(stripPort(r.authority()))) {
      return false;
    }
    for (HeaderMatch h : headers) {
      if (!h.test(r.headers().get(h.name()))) {
        return false;
      }
    }
    for (HeaderMatch q : queryParams) {
      if (!q.test(r.queryParam(q.name()))) {
        return false;
      }
    }
    return true;
  }

  /** The prefix this match consumed, for prefix rewrites; null if the path was not prefix-matched. */
  String matchedPrefix() {
    return uri != null && (uri.kind() == StringMatcher.Kind.PREFIX || uri.kind() == StringMatcher.Kind.PATH_PREFIX)
        ? uri.value()
        : null;
  }

  private static String stripPort(String authority) {
    if (authority == null) {
      return null;
    }
    int colon = authority.lastIndexOf(':');
    if (colon > 0 && authority.indexOf(']') < colon && authority.chars().filter(c -> c == ':').count() == 1) {
      return authority.substring(0, colon);
    }
    return authority;
  }
}
