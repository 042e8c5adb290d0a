package dev.ambientj.config.model;

import java.util.Objects;

/** A reference to a waypoint {@code Gateway} by namespace and name. */
public record WaypointRef(String namespace, String name) {
  public WaypointRef {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(name, "name");
  }

  @Override
  public String toString() {
    return namespace + "/" + name;
  }
}
