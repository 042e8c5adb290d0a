package dev.ambientj.hbone.admin;

import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The admin paths every ambientj process serves as Istio's proxies do: an index at {@code /},
 * {@code /logging} (levels per scope, changed at run time, as Envoy's and ztunnel's) and
 * {@code POST /quitquitquit} (drain and exit, as SIGTERM does).
 *
 * <ul>
 *   <li>{@code GET /logging}: each scope's level. {@code POST /logging?level=debug} sets every
 *       scope; {@code POST /logging?dev.ambientj.ztunnel=debug} one scope (several parameters
 *       allowed; all are checked before any is applied). Levels: trace|debug|info|warn|error; any
 *       other is 400 naming the parameter. A GET with parameters is 405 (changes are POSTs).
 *   <li>{@code POST /quitquitquit}: answers {@code 200 OK} and starts {@code quit} once, on its
 *       own thread (a drain blocks); GET is 405.
 * </ul>
 */
public final class OperatorEndpoints {
  private OperatorEndpoints() {}

  /**
   * {@code endpoints} with the operator's paths added: {@code /} (an index of every path with
   * {@code descriptions}), {@code /logging} and {@code /quitquitquit}.
   *
   * @param title the index page's first line, e.g. {@code ambientj ztunnel admin (node n1)}
   * @param quit what {@code POST /quitquitquit} starts: the same drain as SIGTERM
   */
  public static Map<String, AdminEndpoint> with(String title, Map<String, AdminEndpoint> endpoints,
      Map<String, String> descriptions, LogLevels levels, Runnable quit) {
    Map<String, AdminEndpoint> all = new LinkedHashMap<>(endpoints);
    all.put("/logging", logging(levels));
    all.put("/quitquitquit", quitquitquit(quit));
    Map<String, String> described = new LinkedHashMap<>();
    for (String path : all.keySet()) {
      described.put(path, descriptions.getOrDefault(path, ""));
    }
    described.put("/logging", "GET: log level of each scope; POST ?level=LEVEL (all) or"
        + " ?SCOPE=LEVEL: change them");
    described.put("/quitquitquit", "POST: drain and exit, as SIGTERM does");
    String index = index(title, described);
    Map<String, AdminEndpoint> withIndex = new LinkedHashMap<>();
    withIndex.put("/", q -> AdminResponse.text(200, index));
    withIndex.putAll(all);
    return withIndex;
  }

  /** The index page: {@code title}, then one line per path with what it does. */
  static String index(String title, Map<String, String> descriptions) {
    int width = descriptions.keySet().stream().mapToInt(String::length).max().orElse(0);
    StringBuilder out = new StringBuilder(title).append("\n\n");
    descriptions.forEach((path, what) -> {
      out.append("  ").append(path);
      if (!what.isEmpty()) {
        out.append(" ".repeat(width - path.length() + 2)).append(what);
      }
      out.append('\n');
    });
    return out.toString();
  }

  /** {@code /logging}, changing {@code levels}. */
  public static AdminEndpoint logging(LogLevels levels) {
    return new AdminEndpoint() {
      @Override
      public AdminResponse handle(QueryStringDecoder request) {
        if (!request.parameters().isEmpty()) {
          return AdminResponse.text(405, "changing levels takes POST: curl -X POST '"
              + request.uri() + "'\n");
        }
        return show(levels);
      }

      @Override
      public AdminResponse handle(HttpMethod method, QueryStringDecoder request) {
        if (!method.equals(HttpMethod.POST)) {
          return AdminEndpoint.super.handle(method, request);
        }
        if (!levels.supported()) {
          return AdminResponse.text(501, "log levels cannot be changed: " + levels.unsupportedReason()
              + "\n");
        }
        Map<String, List<String>> params = request.parameters();
        if (params.isEmpty()) {
          return AdminResponse.text(400, "nothing to change: POST /logging?level=LEVEL (every scope)"
              + " or /logging?SCOPE=LEVEL; levels: " + String.join("|", LogLevels.LEVELS) + "\n");
        }
        Map<String, String> changes = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> p : params.entrySet()) {
          String value = p.getValue().isEmpty() ? "" : p.getValue().get(p.getValue().size() - 1);
          String level = LogLevels.parse(value);
          if (level == null) {
            return AdminResponse.text(400, "'" + value + "' (parameter " + p.getKey()
                + ") is not a level; use one of " + String.join("|", LogLevels.LEVELS) + "\n");
          }
          if (!p.getKey().equals("level") && !LogLevels.validScope(p.getKey())) {
            return AdminResponse.text(400, "'" + p.getKey() + "' is not a logger scope (e.g."
                + " dev.ambientj.ztunnel, io.netty) nor 'level'\n");
          }
          changes.put(p.getKey(), level);
        }
        String all = changes.remove("level");
        if (all != null) {
          levels.setAll(all);
        }
        changes.forEach(levels::set);
        return show(levels);
      }
    };
  }

  private static AdminResponse show(LogLevels levels) {
    if (!levels.supported()) {
      return AdminResponse.text(501, "log levels unknown: " + levels.unsupportedReason() + "\n");
    }
    StringBuilder out = new StringBuilder("active loggers:\n");
    levels.levels().forEach((scope, level) -> out.append("  ").append(scope).append(": ")
        .append(level).append('\n'));
    return AdminResponse.text(200, out.toString());
  }

  /** {@code POST /quitquitquit}: starts {@code quit} once on its own thread; 200 "OK". */
  public static AdminEndpoint quitquitquit(Runnable quit) {
    AtomicBoolean started = new AtomicBoolean();
    return new AdminEndpoint() {
      @Override
      public AdminResponse handle(QueryStringDecoder request) {
        return AdminResponse.text(405, "method not allowed: /quitquitquit takes POST\n");
      }

      @Override
      public AdminResponse handle(HttpMethod method, QueryStringDecoder request) {
        if (!method.equals(HttpMethod.POST)) {
          return handle(request);
        }
        if (started.compareAndSet(false, true)) {
          Thread.ofPlatform().name("quitquitquit").start(quit);
        }
        return AdminResponse.text(200, "OK\n");
      }
    };
  }
}
