package dev.ambientj.config.xds;

import com.google.protobuf.Any;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A complete set of xDS resources: type URL → resource name → resource, in a stable order.
 * Immutable.
 */
public record XdsResources(Map<String, Map<String, Any>> byType) {
  public XdsResources {
    Map<String, Map<String, Any>> copy = new LinkedHashMap<>();
    for (String t : TypeUrls.ALL) {
      copy.put(t, java.util.Collections.unmodifiableMap(
          new LinkedHashMap<>(byType.getOrDefault(t, Map.of()))));
    }
    byType = java.util.Collections.unmodifiableMap(copy);
  }

  public Map<String, Any> of(String typeUrl) {
    return byType.getOrDefault(Objects.requireNonNull(typeUrl), Map.of());
  }

  /** A content version of one resource: the first 16 hex digits of the SHA-256 of its bytes. */
  public static String versionOf(Any resource) {
    try {
      MessageDigest d = MessageDigest.getInstance("SHA-256");
      d.update(resource.getTypeUrl().getBytes(StandardCharsets.UTF_8));
      d.update(resource.getValue().toByteArray());
      return HexFormat.of().formatHex(d.digest(), 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
