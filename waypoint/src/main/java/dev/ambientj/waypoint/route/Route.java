package dev.ambientj.waypoint.route;

import dev.ambientj.waypoint.filter.fault.FaultPolicy;
import java.time.Duration;
import java.util.List;

/**
 * One compiled route (a VirtualService {@code http[i]} or an HTTPRoute / GRPCRoute rule).
 *
 * @param name the route's name for logs ({@code VirtualService production/payment-service#canary})
 * @param matches alternatives (OR); empty matches everything
 * @param rewritePath the new path (or prefix, when the request was prefix-matched), or null
 * @param rewriteFullPath true when {@code rewritePath} replaces the whole path even after a prefix
 *     match (Gateway API ReplaceFullPath)
 * @param rewriteAuthority the new Host / :authority, or null
 * @param timeout the whole request, retries included; zero for none
 */
public record Route(
    String name,
    List<RequestMatch> matches,
    RouteAction action,
    HeaderOps requestHeaders,
    HeaderOps responseHeaders,
    String rewritePath,
    boolean rewriteFullPath,
    String rewriteAuthority,
    Duration timeout,
    RetryPolicy retry,
    FaultPolicy fault) {

  public Route {
    matches = List.copyOf(matches);
    requestHeaders = requestHeaders == null ? HeaderOps.NONE : requestHeaders;
    responseHeaders = responseHeaders == null ? HeaderOps.NONE : responseHeaders;
    timeout = timeout == null ? Duration.ZERO : timeout;
    retry = retry == null ? RetryPolicy.NONE : retry;
    fault = fault == null ? FaultPolicy.NONE : fault;
  }

  /** The matching alternative, or null when the route does not match. */
  public RequestMatch match(RouteRequest r) {
    if (matches.isEmpty()) {
      return RequestMatch.ANY;
    }
    for (RequestMatch m : matches) {
      if (m.matches(r)) {
        return m;
      }
    }
    return null;
  }

  /** The path to send upstream after this route's rewrite, given how it matched. */
  public String rewrite(String uri, RequestMatch matched) {
    if (rewritePath == null) {
      return uri;
    }
    int q = uri.indexOf('?');
    String path = q < 0 ? uri : uri.substring(0, q);
    String query = q < 0 ? "" : uri.substring(q);
    String prefix = rewriteFullPath ? null : matched.matchedPrefix();
    String out;
    if (prefix != null && path.startsWith(prefix)) {
      String rest = path.substring(prefix.length());
      if (rewritePath.endsWith("/") && rest.startsWith("/")) {
        rest = rest.substring(1);
      } else if (!rewritePath.endsWith("/") && !rest.isEmpty() && !rest.startsWith("/") && prefix.endsWith("/")) {
        rest = "/" + rest;
      }
      out = rewritePath + rest;
      if (out.isEmpty()) {
        out = "/";
      }
    } else {
      out = rewritePath;
    }
    return out + query;
  }
}
