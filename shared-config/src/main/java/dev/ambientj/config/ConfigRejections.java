package dev.ambientj.config;

import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.ConfigWarning;
import dev.ambientj.config.model.MeshSnapshot;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one way every process reports what its configuration refused: fed each published snapshot
 * by the {@link SnapshotPublisher}, it logs each rejection once when it appears ({@code rejected:
 * AuthorizationPolicy ns/name: spec.rules[0].fromm: unknown field … (rejected; keeping the version
 * in force)}) and once when it is gone, each warning once, and keeps what metrics and config dumps
 * show: the rejections in force now and how many have appeared, by kind.
 *
 * <p>A rejection is "the same" while its text is the same: a reload that changes another file does
 * not report it again. Thread-safe; updated under the publisher's lock.
 */
public final class ConfigRejections {
  private static final Logger log = LoggerFactory.getLogger(ConfigRejections.class);

  private volatile List<ConfigRejection> current = List.of();
  private volatile Map<String, Integer> currentByKind = Map.of();
  private volatile Map<String, Long> totalByKind = Map.of();
  private Set<String> reported = Set.of();
  private Set<String> warned = Set.of();

  synchronized void update(MeshSnapshot snapshot) {
    Set<String> now = new LinkedHashSet<>();
    Map<String, Long> totals = new TreeMap<>(totalByKind);
    Map<String, Integer> byKind = new TreeMap<>();
    totals.keySet().forEach(k -> byKind.put(k, 0));
    for (ConfigRejection r : snapshot.rejections()) {
      String line = r.report();
      byKind.merge(r.metricKind(), 1, Integer::sum);
      totals.putIfAbsent(r.metricKind(), 0L);
      if (now.add(line) && !reported.contains(line)) {
        totals.merge(r.metricKind(), 1L, Long::sum);
        log.warn("rejected: {}", line);
      }
    }
    for (String gone : reported) {
      if (!now.contains(gone)) {
        log.info("no longer rejected: {}", gone);
      }
    }
    Set<String> warnings = new LinkedHashSet<>();
    for (ConfigWarning w : snapshot.warnings()) {
      String line = w.toString();
      if (warnings.add(line) && !warned.contains(line)) {
        log.warn("configuration warning: {}", line);
      }
    }
    reported = now;
    warned = warnings;
    current = snapshot.rejections();
    currentByKind = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(byKind));
    totalByKind = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(totals));
  }

  /**
   * A config dump of what a snapshot refused and ignored, for a proxy without a richer dump (the
   * waypoint): {@code {"version": N, "rejections": [{"message", "kind", "namespace", "name",
   * "field", "location", "problem", "previousInForce"}…], "warnings": ["…"]}}, the same fields
   * as ztunnel's {@code /config_dump}.
   */
  public static String json(MeshSnapshot snapshot) {
    Map<String, Object> dump = new LinkedHashMap<>();
    dump.put("version", snapshot.version());
    List<Map<String, Object>> rejections = new java.util.ArrayList<>();
    for (ConfigRejection r : snapshot.rejections()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("message", r.report());
      m.put("kind", r.metricKind());
      m.put("namespace", r.namespace());
      m.put("name", r.name());
      m.put("field", r.field());
      m.put("location", r.location());
      m.put("problem", r.problem());
      m.put("previousInForce", r.previousInForce());
      rejections.add(m);
    }
    dump.put("rejections", rejections);
    dump.put("warnings", snapshot.warnings().stream().map(ConfigWarning::toString).toList());
    try {
      return MeshYaml.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(dump) + "\n";
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The rejections of the current snapshot. */
  public List<ConfigRejection> current() {
    return current;
  }

  /** How many rejections the current snapshot has, by kind (0 for a kind no longer rejected). */
  public Map<String, Integer> currentByKind() {
    return currentByKind;
  }

  /** How many rejections have appeared since start, by kind (a counter). */
  public Map<String, Long> totalByKind() {
    return totalByKind;
  }
}
