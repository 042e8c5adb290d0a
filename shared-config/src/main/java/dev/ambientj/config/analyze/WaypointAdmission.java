package dev.ambientj.config.analyze;

import static dev.ambientj.config.analyze.Refs.labelsOf;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which namespaces a waypoint admits, read from its Gateway as Istio reads it: a waypoint serves
 * its own namespace; another namespace may use it only when the Gateway's HBONE listener allows
 * routes from it ({@code allowedRoutes.namespaces.from: All}, or {@code Selector} with a label
 * selector that the namespace's labels match — every namespace carries {@code
 * kubernetes.io/metadata.name: <its name>}). {@code Same}, the default, admits none other.
 */
final class WaypointAdmission {
  private static final String NAME_LABEL = "kubernetes.io/metadata.name";

  private final Map<String, JsonNode> gateways = new HashMap<>();
  private final Map<String, Map<String, String>> namespaceLabels = new HashMap<>();

  WaypointAdmission(List<HasMetadata> objects) {
    for (HasMetadata o : objects) {
      if (o.getMetadata() == null || o.getMetadata().getName() == null) {
        continue;
      }
      if ("Namespace".equals(o.getKind())) {
        namespaceLabels.put(o.getMetadata().getName(), labelsOf(o));
      } else if ("Gateway".equals(o.getKind()) && o.getApiVersion() != null
          && o.getApiVersion().startsWith("gateway.networking.k8s.io/")) {
        gateways.put(Refs.nsOf(o) + "/" + o.getMetadata().getName(), Refs.tree(o));
      }
    }
  }

  /** The {@code gatewayClassName} of the Gateway API Gateway of that name, if one is defined. */
  Optional<String> gatewayClassOf(String namespace, String name) {
    JsonNode g = gateways.get(namespace + "/" + name);
    return g == null ? Optional.empty()
        : Optional.of(g.path("spec").path("gatewayClassName").asText(""));
  }

  /**
   * Why the waypoint {@code namespace/name} does not admit {@code client} namespace, or empty
   * when it does (or when its Gateway is not among the objects: nothing to tell).
   */
  Optional<String> refusal(String namespace, String name, String client) {
    JsonNode g = gateways.get(namespace + "/" + name);
    if (g == null || namespace.equals(client)) {
      return Optional.empty();
    }
    Map<String, String> labels = new HashMap<>(namespaceLabels.getOrDefault(client, Map.of()));
    labels.putIfAbsent(NAME_LABEL, client);
    String why = null;
    JsonNode listeners = g.path("spec").path("listeners");
    for (int i = 0; i < listeners.size(); i++) {
      JsonNode l = listeners.get(i);
      if (!"HBONE".equals(l.path("protocol").asText()) || l.path("port").asInt() != 15008) {
        continue;
      }
      JsonNode namespaces = l.path("allowedRoutes").path("namespaces");
      String from = namespaces.path("from").asText("Same");
      String field = "spec.listeners[" + i + "].allowedRoutes.namespaces";
      switch (from) {
        case "All" -> {
          return Optional.empty();
        }
        case "Selector" -> {
          if (selects(namespaces.path("selector"), labels)) {
            return Optional.empty();
          }
          why = "its HBONE listener admits the namespaces matching " + field + ".selector, and"
              + " namespace " + client + " (labels " + new java.util.TreeMap<>(labels)
              + ") does not match";
        }
        default -> why = "its HBONE listener admits routes from its own namespace only (" + field
            + ".from: " + from + (namespaces.path("from").isMissingNode() ? ", the default" : "")
            + ")";
      }
    }
    return Optional.ofNullable(why);
  }

  /** A Kubernetes label selector: matchLabels and matchExpressions (In, NotIn, Exists, ...). */
  private static boolean selects(JsonNode selector, Map<String, String> labels) {
    if (selector.isMissingNode() || selector.isNull()) {
      return false; // Selector without a selector admits nothing
    }
    var it = selector.path("matchLabels").fields();
    while (it.hasNext()) {
      var e = it.next();
      if (!e.getValue().asText().equals(labels.get(e.getKey()))) {
        return false;
      }
    }
    for (JsonNode x : selector.path("matchExpressions")) {
      String key = x.path("key").asText();
      List<String> values = new java.util.ArrayList<>();
      x.path("values").forEach(v -> values.add(v.asText()));
      boolean ok = switch (x.path("operator").asText()) {
        case "In" -> labels.containsKey(key) && values.contains(labels.get(key));
        case "NotIn" -> !labels.containsKey(key) || !values.contains(labels.get(key));
        case "Exists" -> labels.containsKey(key);
        case "DoesNotExist" -> !labels.containsKey(key);
        default -> false;
      };
      if (!ok) {
        return false;
      }
    }
    return true;
  }
}
