package dev.ambientj.config.server.waypoint;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What every waypoint the controller deploys shares: the image and the config server's xDS
 * address (also its CA address when the controller publishes the mesh root: then it is the TLS
 * port, 15012). In a cluster they come from the config server's environment, which
 * {@code daemonset-manifests/config-server.yaml} sets (a test checks that it sets each of
 * {@link #ENV}).
 */
public record WaypointSettings(String image, String xdsAddress) {

  public static final String IMAGE_ENV = "AMBIENTJ_WAYPOINT_IMAGE";
  public static final String XDS_ENV = "AMBIENTJ_XDS_ADDRESS";
  /** Every environment variable {@link #fromEnv} reads. */
  public static final List<String> ENV = List.of(IMAGE_ENV, XDS_ENV);

  public WaypointSettings {
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(xdsAddress, "xdsAddress");
  }

  /** Reads {@link #ENV}; a missing variable is an error that names it. */
  public static WaypointSettings fromEnv(Map<String, String> env) {
    return new WaypointSettings(required(env, IMAGE_ENV), required(env, XDS_ENV));
  }

  private static String required(Map<String, String> env, String name) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(
          name + " is not set (the waypoint controller needs it; the manifests set it)");
    }
    return v;
  }
}
