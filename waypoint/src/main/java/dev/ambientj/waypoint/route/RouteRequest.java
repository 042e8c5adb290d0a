package dev.ambientj.waypoint.route;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;
import java.util.Map;

/**
 * What route matching reads from a request: method, path (without the query), query parameters,
 * headers and authority. Query parameters are decoded lazily, once, only if a route asks for them.
 * Not thread-safe; lives on one event loop for one request.
 */
public final class RouteRequest {
  private final String method;
  private final String uri;
  private final String path;
  private final HttpHeaders headers;
  private final String authority;
  private final int port;
  private Map<String, List<String>> query;

  /**
   * @param uri the request target as sent ({@code /a/b?x=1})
   * @param authority the {@code Host} / {@code :authority}
   * @param port the service port the request arrived on
   */
  public RouteRequest(String method, String uri, HttpHeaders headers, String authority, int port) {
    this.method = method;
    this.uri = uri;
    int q = uri.indexOf('?');
    this.path = q < 0 ? uri : uri.substring(0, q);
    this.headers = headers;
    this.authority = authority;
    this.port = port;
  }

  public String method() {
    return method;
  }

  /** The full request target, including the query. */
  public String uri() {
    return uri;
  }

  /** The path, without the query string. */
  public String path() {
    return path;
  }

  public HttpHeaders headers() {
    return headers;
  }

  public String authority() {
    return authority;
  }

  public int port() {
    return port;
  }

  /** The first value of query parameter {@code name}, "" for a parameter without value, else null. */
  public String queryParam(String name) {
    if (query == null) {
      query = new QueryStringDecoder(uri).parameters();
    }
    List<String> v = query.get(name);
    return v == null || v.isEmpty() ? null : v.get(0);
  }
}
