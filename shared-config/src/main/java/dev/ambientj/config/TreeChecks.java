package dev.ambientj.config;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Checks made on the document tree before it becomes a Fabric8 object, for fields whose bad values
 * the Fabric8 model would silently turn into null (its enums map an unknown name to null).
 */
final class TreeChecks {
  private static final List<String> MTLS_MODES =
      List.of("STRICT", "PERMISSIVE", "DISABLE", "UNSET");
  private static final List<String> ACTIONS = List.of("ALLOW", "DENY", "AUDIT", "CUSTOM");

  private TreeChecks() {}

  static void check(String kind, JsonNode tree) throws InvalidField {
    JsonNode spec = tree.path("spec");
    switch (kind == null ? "" : kind) {
      case "PeerAuthentication" -> {
        oneOf("spec.mtls.mode", spec.path("mtls").path("mode"), MTLS_MODES);
        Iterator<Map.Entry<String, JsonNode>> ports = spec.path("portLevelMtls").fields();
        while (ports.hasNext()) {
          Map.Entry<String, JsonNode> e = ports.next();
          oneOf(
              "spec.portLevelMtls[" + e.getKey() + "].mode", e.getValue().path("mode"), MTLS_MODES);
        }
      }
      case "AuthorizationPolicy" -> oneOf("spec.action", spec.path("action"), ACTIONS);
      default -> {}
    }
  }

  /** True when {@link #check} passes. */
  static boolean passes(String kind, JsonNode tree) {
    try {
      check(kind, tree);
      return true;
    } catch (InvalidField e) {
      return false;
    }
  }

  private static void oneOf(String field, JsonNode value, List<String> allowed)
      throws InvalidField {
    if (value.isMissingNode() || value.isNull()) {
      return;
    }
    if (!value.isTextual() || !allowed.contains(value.asText())) {
      String shown = value.isTextual() ? "\"" + value.asText() + "\"" : value.toString();
      String expected =
          String.join(", ", allowed.subList(0, allowed.size() - 1)) + " or " + allowed.getLast();
      throw new InvalidField(field, shown + " (expected " + expected + ")");
    }
  }
}
