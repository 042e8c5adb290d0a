package dev.ambientj.waypoint.route;

import io.netty.handler.codec.http.HttpHeaders;
import java.util.List;
import java.util.Map;

/**
 * Header manipulation: set (replace), add (append), remove. Applied in Envoy's order: remove,
 * then set, then add (so a set and a remove of the same name end with the set).
 */
public record HeaderOps(Map<String, String> set, Map<String, String> add, List<String> remove) {
  public static final HeaderOps NONE = new HeaderOps(Map.of(), Map.of(), List.of());

  public HeaderOps {
    set = Map.copyOf(set);
    add = Map.copyOf(add);
    remove = List.copyOf(remove);
  }

  public boolean isEmpty() {
    return set.isEmpty() && add.isEmpty() && remove.isEmpty();
  }

  public void apply(HttpHeaders h) {
    for (String name : remove) {
      h.remove(name);
    }
    set.forEach(h::set);
    add.forEach(h::add);
  }

  /** Both applied, this one first. */
  public HeaderOps then(HeaderOps next) {
    if (next.isEmpty()) {
      return this;
    }
    if (isEmpty()) {
      return next;
    }
    Map<String, String> s = new java.util.LinkedHashMap<>(set);
    s.putAll(next.set);
    Map<String, String> a = new java.util.LinkedHashMap<>(add);
    a.putAll(next.add);
    List<String> r = new java.util.ArrayList<>(remove);
    r.addAll(next.remove);
    return new HeaderOps(s, a, r);
  }
}
