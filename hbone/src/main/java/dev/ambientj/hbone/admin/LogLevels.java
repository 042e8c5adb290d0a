package dev.ambientj.hbone.admin;

import java.lang.reflect.Field;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.ILoggerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.event.Level;

/**
 * The process's log levels, changed while it runs (what {@code /logging} serves).
 *
 * <p>The processes log through slf4j-simple (the launcher's backend), which reads its levels once,
 * when a logger is created, and has no API to change them. So a change is made in the two places
 * slf4j-simple keeps them: the level field of every logger already created under the scope, and
 * the {@code org.slf4j.simpleLogger.log.<scope>} system property (slf4j-simple reads system
 * properties before {@code simplelogger.properties}) so that loggers created later agree; "all"
 * also sets the default level. A <em>scope</em> is a logger-name prefix on a package boundary:
 * {@code dev.ambientj.ztunnel}, {@code io.netty}.
 *
 * <p>When another backend is bound, or slf4j-simple's fields cannot be reached, {@link
 * #supported()} is false and the reason is in {@link #unsupportedReason()}; nothing is changed.
 *
 * <p>Thread-safe; every call is short and non-blocking (fit for an event loop).
 */
public final class LogLevels {
  /** The levels an operator may set, most to least verbose. */
  public static final List<String> LEVELS = List.of("trace", "debug", "info", "warn", "error");

  private static final String PROPERTY_PREFIX = "org.slf4j.simpleLogger.log.";

  private final List<String> knownScopes;
  private final ConcurrentMap<String, Logger> loggers;
  private final Field currentLevel;
  private final Object configuration;
  private final Field defaultLevel;
  private final String unsupportedReason;

  private LogLevels(List<String> knownScopes, ConcurrentMap<String, Logger> loggers,
      Field currentLevel, Object configuration, Field defaultLevel, String unsupportedReason) {
    this.knownScopes = knownScopes;
    this.loggers = loggers;
    this.currentLevel = currentLevel;
    this.configuration = configuration;
    this.defaultLevel = defaultLevel;
    this.unsupportedReason = unsupportedReason;
  }

  /**
   * The levels of this process's logging backend; {@code knownScopes} are listed by {@link
   * #levels()} even before anything logged under them.
   */
  @SuppressWarnings("unchecked")
  public static LogLevels ofThisProcess(List<String> knownScopes) {
    ILoggerFactory factory = LoggerFactory.getILoggerFactory();
    String backend = factory.getClass().getName();
    if (!backend.equals("org.slf4j.simple.SimpleLoggerFactory")) {
      return unsupported(knownScopes, "the logging backend " + backend
          + " is not slf4j-simple; set its levels in its own configuration");
    }
    try {
      Field map = factory.getClass().getDeclaredField("loggerMap");
      map.setAccessible(true);
      Class<?> simpleLogger = Class.forName("org.slf4j.simple.SimpleLogger", true,
          factory.getClass().getClassLoader());
      Field current = simpleLogger.getDeclaredField("currentLogLevel");
      current.setAccessible(true);
      Field config = simpleLogger.getDeclaredField("CONFIG_PARAMS");
      config.setAccessible(true);
      Object configuration = config.get(null);
      Field defaultLevel = configuration.getClass().getDeclaredField("defaultLogLevel");
      defaultLevel.setAccessible(true);
      return new LogLevels(List.copyOf(knownScopes),
          (ConcurrentMap<String, Logger>) map.get(factory), current, configuration, defaultLevel,
          null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return unsupported(knownScopes, "slf4j-simple's levels cannot be changed in this version ("
          + e + ")");
    }
  }

  private static LogLevels unsupported(List<String> knownScopes, String why) {
    return new LogLevels(List.copyOf(knownScopes), null, null, null, null, why);
  }

  public boolean supported() {
    return unsupportedReason == null;
  }

  /** Why levels cannot be changed here; null when they can. */
  public String unsupportedReason() {
    return unsupportedReason;
  }

  /**
   * The lower-case level name, or null when {@code level} is not one of {@link #LEVELS}
   * (case-insensitive).
   */
  public static String parse(String level) {
    String l = level == null ? "" : level.strip().toLowerCase(Locale.ROOT);
    return LEVELS.contains(l) ? l : null;
  }

  /** A scope is a logger-name prefix: letters, digits, {@code _ $ -}, dots between parts. */
  public static boolean validScope(String scope) {
    return scope.matches("[A-Za-z0-9_$-]+(\\.[A-Za-z0-9_$-]+)*");
  }

  /**
   * Each scope's effective level ({@code default} first, then the known scopes and every scope set
   * at run time, by name): what a logger named like the scope would log at.
   */
  public Map<String, String> levels() {
    Map<String, String> scopes = new TreeMap<>();
    if (!supported()) {
      return scopes;
    }
    for (String scope : knownScopes) {
      scopes.put(scope, effective(scope));
    }
    for (String key : System.getProperties().stringPropertyNames()) {
      if (key.startsWith(PROPERTY_PREFIX)) {
        String scope = key.substring(PROPERTY_PREFIX.length());
        scopes.put(scope, effective(scope));
      }
    }
    Map<String, String> out = new java.util.LinkedHashMap<>();
    out.put("default", name(defaultLevel()));
    out.putAll(scopes);
    return out;
  }

  /** Sets every logger, and the default for loggers created later, to {@code level}. */
  public void setAll(String level) {
    requireSupported();
    int l = toInt(level);
    try {
      defaultLevel.setInt(configuration, l);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException(e);
    }
    for (String key : System.getProperties().stringPropertyNames()) {
      if (key.startsWith(PROPERTY_PREFIX)) {
        System.setProperty(key, level);
      }
    }
    for (Logger logger : loggers.values()) {
      set(logger, l);
    }
  }

  /**
   * Sets the loggers under {@code scope} (the name itself and {@code scope.*}), now and those
   * created later, to {@code level}; a more specific scope set earlier is folded into this one.
   */
  public void set(String scope, String level) {
    requireSupported();
    if (!validScope(scope)) {
      throw new IllegalArgumentException("'" + scope + "' is not a logger scope (e.g. dev.ambientj.ztunnel)");
    }
    int l = toInt(level);
    for (String key : System.getProperties().stringPropertyNames()) {
      if (key.startsWith(PROPERTY_PREFIX + scope + ".")) {
        System.clearProperty(key);
      }
    }
    System.setProperty(PROPERTY_PREFIX + scope, level);
    for (Map.Entry<String, Logger> e : loggers.entrySet()) {
      String name = e.getKey();
      if (name.equals(scope) || name.startsWith(scope + ".")) {
        set(e.getValue(), l);
      }
    }
  }

  private void requireSupported() {
    if (!supported()) {
      throw new IllegalStateException(unsupportedReason);
    }
  }

  private void set(Logger logger, int level) {
    if (currentLevel.getDeclaringClass().isInstance(logger)) {
      try {
        currentLevel.setInt(logger, level);
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  private int defaultLevel() {
    try {
      return defaultLevel.getInt(configuration);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String effective(String scope) {
    Logger logger = LoggerFactory.getLogger(scope);
    if (logger.isTraceEnabled()) {
      return "trace";
    } else if (logger.isDebugEnabled()) {
      return "debug";
    } else if (logger.isInfoEnabled()) {
      return "info";
    } else if (logger.isWarnEnabled()) {
      return "warn";
    } else if (logger.isErrorEnabled()) {
      return "error";
    }
    return "off";
  }

  private static int toInt(String level) {
    String l = parse(level);
    if (l == null) {
      throw new IllegalArgumentException("'" + level + "' is not a level; use one of "
          + String.join("|", LEVELS));
    }
    return Level.valueOf(l.toUpperCase(Locale.ROOT)).toInt();
  }

  private static String name(int level) {
    for (Level l : Level.values()) {
      if (l.toInt() == level) {
        return l.name().toLowerCase(Locale.ROOT);
      }
    }
    return "off";
  }
}
