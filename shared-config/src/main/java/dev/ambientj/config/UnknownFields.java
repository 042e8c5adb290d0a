package dev.ambientj.config;

import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.AnnotatedMember;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Finds the fields of a document that its Fabric8 model class did not take, with their paths
 * ({@code spec.rules[0].fromm}). Fabric8's model classes do not fail on an unknown field: they keep
 * it in {@code additionalProperties} (an "any setter"), and a few custom deserializers of Istio's
 * oneof fields drop it. Both are found here:
 *
 * <ul>
 *   <li>a walk over the typed object finds every non-empty {@code additionalProperties}, at any
 *       depth (bean properties, lists, maps);
 *   <li>when the document's tree is known, a comparison with the typed object written back finds
 *       the fields that vanished on the way in.
 * </ul>
 *
 * <p>Each is reported with what it should likely have been ({@link FieldSchema}): {@code
 * spec.trafficPolicy.connectionPool.http.consecutiveGatewayErrors: unknown field (did you mean
 * spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors?)}, the text the proxies log and
 * {@code mesh analyze} prints.
 *
 * <p>The API server's strict field validation refuses such fields; for the security kinds the
 * translator does too ({@link MeshTranslator}), since a misspelt condition ({@code fromm:}) would
 * otherwise widen a policy. {@code status} is not checked (not written by users). Thread-safe.
 */
final class UnknownFields {
  private static final Map<Class<?>, Bean> BEANS = new ConcurrentHashMap<>();

  /**
   * One unknown field: its path, what is wrong with it, and whether the model dropped it (found
   * only by comparing with the tree) rather than kept it aside.
   */
  record Found(String path, String problem, boolean dropped) {}

  /** A model class as Jackson sees it: its properties by JSON name, and its any getter. */
  private record Bean(List<BeanPropertyDefinition> properties, AnnotatedMember anyGetter) {}

  private UnknownFields() {}

  /**
   * The unknown fields of {@code typed}, read from {@code tree} (null when the tree is not known:
   * then only the fields kept in {@code additionalProperties} are found).
   */
  static List<Found> find(JsonNode tree, Object typed) {
    List<String> kept = new ArrayList<>();
    walk(typed, "", kept);
    List<String> dropped = new ArrayList<>();
    if (tree != null) {
      JsonNode back = MeshYaml.SERIALIZATION.convertValue(typed, JsonNode.class);
      compare(tree, back, "", dropped);
    }
    FieldSchema schema = FieldSchema.of(typed.getClass());
    List<Found> out = new ArrayList<>();
    kept.forEach(p -> out.add(new Found(p, problem(schema, p), false)));
    dropped.forEach(p -> out.add(new Found(p, problem(schema, p), true)));
    return out;
  }

  /**
   * {@code unknown field (did you mean spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors?)}
   * when a field of that name exists elsewhere in the object's schema or one of a near name exists
   * here, else {@code unknown field (expected one of …)} listing what is accepted here.
   */
  static String problem(FieldSchema schema, String path) {
    var suggestion = schema.suggest(path);
    if (suggestion.isPresent()) {
      return "unknown field (did you mean " + suggestion.get() + "?)";
    }
    List<String> names = schema.fieldsBeside(path);
    if (names.isEmpty()) {
      return "unknown field";
    }
    return "unknown field (expected "
        + (names.size() == 1 ? names.get(0) : "one of " + String.join(", ", names)) + ")";
  }

  private static void walk(Object value, String path, List<String> out) {
    if (value == null) {
      return;
    }
    if (value instanceof Collection<?> c) {
      int i = 0;
      for (Object item : c) {
        walk(item, path + "[" + i++ + "]", out);
      }
      return;
    }
    if (value instanceof Map<?, ?> m) {
      m.forEach((k, v) -> walk(v, path + "[" + k + "]", out));
      return;
    }
    if (value instanceof Enum<?> || !value.getClass().getName().startsWith("io.fabric8.")) {
      return; // a scalar, an enum, a quantity: no fields of its own
    }
    Bean bean = BEANS.computeIfAbsent(value.getClass(), UnknownFields::introspect);
    if (bean.anyGetter() != null && bean.anyGetter().getValue(value) instanceof Map<?, ?> extra) {
      for (Object key : extra.keySet()) {
        out.add(join(path, String.valueOf(key)));
      }
    }
    for (BeanPropertyDefinition p : bean.properties()) {
      if (path.isEmpty() && p.getName().equals("status")) {
        continue;
      }
      AnnotatedMember accessor = p.getAccessor();
      if (accessor != null) {
        walk(accessor.getValue(value), join(path, p.getName()), out);
      }
    }
  }

  private static Bean introspect(Class<?> type) {
    ObjectMapper m = MeshYaml.MAPPER;
    BeanDescription d = m.getSerializationConfig().introspect(m.constructType(type));
    return new Bean(List.copyOf(d.findProperties()), d.findAnyGetter());
  }

  /** Reports what is set in {@code in} but absent from {@code back} (the object written back). */
  private static void compare(JsonNode in, JsonNode back, String path, List<String> out) {
    if (in.isObject()) {
      if (!back.isObject()) {
        return; // a different shape is the deserializer's business, and reported by it
      }
      Iterator<Map.Entry<String, JsonNode>> fields = in.fields();
      while (fields.hasNext()) {
        Map.Entry<String, JsonNode> e = fields.next();
        JsonNode v = e.getValue();
        if (v.isNull() || (v.isContainerNode() && v.isEmpty())
            || (path.isEmpty() && e.getKey().equals("status"))) {
          continue;
        }
        String p = join(path, e.getKey());
        if (!back.has(e.getKey())) {
          out.add(p);
        } else {
          compare(v, back.get(e.getKey()), p, out);
        }
      }
    } else if (in.isArray() && back.isArray() && in.size() == back.size()) {
      for (int i = 0; i < in.size(); i++) {
        compare(in.get(i), back.get(i), path + "[" + i + "]", out);
      }
    }
  }

  private static String join(String path, String name) {
    return path.isEmpty() ? name : path + "." + name;
  }
}
