package dev.ambientj.config;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import com.fasterxml.jackson.databind.introspect.AnnotatedMember;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The fields an object's schema accepts, read from its Fabric8 model class the way Jackson reads a
 * document into it: bean properties by their JSON names, the elements of lists and the values of
 * maps, and Istio's oneof fields ({@code StringMatch}'s {@code exact}/{@code prefix}/{@code regex},
 * {@code LoadBalancerSettings}' {@code simple}/{@code consistentHash}), which the model declares as
 * one unwrapped property whose subtypes each add a field to the parent.
 *
 * <p>Used to say what an unknown field should have been: the fields accepted where it stands
 * ({@link #fieldsAt}), and where in the same object's schema a field of that name exists
 * ({@link #suggest}) — {@code spec.trafficPolicy.connectionPool.http.consecutiveGatewayErrors} is
 * misplaced, {@code spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors} exists.
 *
 * <p>Paths are written as the rest of the configuration code writes them: {@code .name} for a
 * field, {@code [3]} for a list element, {@code [key]} for a map value. Scalars (strings, numbers,
 * enums) and values with a deserializer of their own ({@code IntOrString}, {@code Quantity}) have
 * no fields. A model class that refers to itself is followed to {@value #MAX_DEPTH} fields deep.
 *
 * <p>Thread-safe; one schema per root class, built on first use and kept.
 */
final class FieldSchema {
  private static final int MAX_DEPTH = 12;
  private static final Map<Class<?>, FieldSchema> BY_ROOT = new ConcurrentHashMap<>();
  private static final Map<Class<?>, Map<String, Field>> FIELDS = new ConcurrentHashMap<>();

  /** How a field's value is shaped. */
  private enum Shape {
    SCALAR,
    OBJECT,
    LIST,
    MAP
  }

  /**
   * One field: its JSON name, its shape, and the model class of its value (of the elements, for a
   * list or map), or null when the value has no fields.
   */
  private record Field(String name, Shape shape, Class<?> type) {}

  /** A field somewhere in the schema: the path to it, each step a name or {@code [*]}. */
  private record Place(List<String> steps) {}

  private final Class<?> root;
  /** field name → every place where a field of that name is accepted, built on first use. */
  private volatile Map<String, List<Place>> placesByName;

  private FieldSchema(Class<?> root) {
    this.root = root;
  }

  /** The schema of objects of {@code root} (a Fabric8 model class). */
  static FieldSchema of(Class<?> root) {
    return BY_ROOT.computeIfAbsent(root, FieldSchema::new);
  }

  /**
   * The names of the fields accepted by the object at {@code path} ({@code
   * spec.trafficPolicy.connectionPool.http}), in the model's order; empty when the path does not
   * lead to an object of the schema.
   */
  List<String> fieldsAt(String path) {
    Class<?> type = typeAt(steps(path));
    if (type == null) {
      return List.of();
    }
    List<String> names = new ArrayList<>();
    for (Field f : fieldsOf(type).values()) {
      if (!(f.name().equals("status") && type == root)) {
        names.add(f.name());
      }
    }
    return names;
  }

  /** The names of the fields accepted beside the field at {@code path}: {@link #fieldsAt} its parent. */
  List<String> fieldsBeside(String path) {
    List<String> steps = steps(path);
    return steps.isEmpty() ? List.of() : fieldsAt(render(steps.subList(0, steps.size() - 1)));
  }

  /**
   * What the unknown field at {@code path} was likely meant to be, as a path: where a field of
   * the same name exists elsewhere in the schema (the place sharing the longest prefix with
   * {@code path}, then the shortest), else a field of a name one or two letters away at the same
   * place ({@code fromm} → {@code from}). Indices the two paths share are kept; other list elements
   * and map values are written {@code [*]}.
   */
  Optional<String> suggest(String path) {
    List<String> steps = steps(path);
    if (steps.isEmpty()) {
      return Optional.empty();
    }
    String name = steps.getLast();
    List<String> parent = steps.subList(0, steps.size() - 1);
    Place best = null;
    int bestShared = -1;
    for (Place p : places().getOrDefault(name, List.of())) {
      int shared = shared(parent, p.steps());
      if (shared == p.steps().size() - 1 && shared == parent.size()) {
        continue; // the very place the field stands: it is not accepted there after all
      }
      if (shared > bestShared
          || (shared == bestShared && p.steps().size() < best.steps().size())) {
        best = p;
        bestShared = shared;
      }
    }
    if (best != null) {
      List<String> out = new ArrayList<>(parent.subList(0, bestShared));
      out.addAll(best.steps().subList(bestShared, best.steps().size()));
      return Optional.of(render(out));
    }
    String near = null;
    int nearDistance = Integer.MAX_VALUE;
    for (String candidate : fieldsBeside(path)) {
      int d = distance(name.toLowerCase(java.util.Locale.ROOT),
          candidate.toLowerCase(java.util.Locale.ROOT));
      if (d < nearDistance && d <= Math.min(2, Math.max(1, name.length() / 3))) {
        near = candidate;
        nearDistance = d;
      }
    }
    if (near == null) {
      return Optional.empty();
    }
    List<String> out = new ArrayList<>(parent);
    out.add(near);
    return Optional.of(render(out));
  }

  /** How many leading steps two paths share; {@code [3]} in a path matches {@code [*]}. */
  private static int shared(List<String> concrete, List<String> schema) {
    int n = 0;
    while (n < concrete.size() && n < schema.size()) {
      String a = concrete.get(n);
      String b = schema.get(n);
      if (!(a.equals(b) || (a.startsWith("[") && b.equals("[*]")))) {
        break;
      }
      n++;
    }
    return n;
  }

  private Class<?> typeAt(List<String> steps) {
    Class<?> type = root;
    Shape shape = Shape.OBJECT;
    for (String step : steps) {
      if (step.startsWith("[")) {
        if (shape != Shape.LIST && shape != Shape.MAP) {
          return null;
        }
        shape = Shape.OBJECT;
        continue;
      }
      if (shape != Shape.OBJECT || type == null) {
        return null;
      }
      Field f = fieldsOf(type).get(step);
      if (f == null) {
        return null;
      }
      type = f.type();
      shape = f.shape();
    }
    return shape == Shape.OBJECT ? type : null;
  }

  private Map<String, List<Place>> places() {
    Map<String, List<Place>> p = placesByName;
    if (p == null) {
      Map<String, List<Place>> built = new LinkedHashMap<>();
      collect(root, new ArrayList<>(), new ArrayList<>(), built);
      p = Collections.unmodifiableMap(built);
      placesByName = p;
    }
    return p;
  }

  private void collect(Class<?> type, List<String> at, List<Class<?>> onPath,
      Map<String, List<Place>> out) {
    if (onPath.contains(type) || at.size() > MAX_DEPTH) {
      return;
    }
    onPath.add(type);
    for (Field f : fieldsOf(type).values()) {
      if (at.isEmpty() && f.name().equals("status")) {
        continue;
      }
      List<String> here = new ArrayList<>(at);
      here.add(f.name());
      out.computeIfAbsent(f.name(), k -> new ArrayList<>()).add(new Place(List.copyOf(here)));
      if (f.type() != null) {
        if (f.shape() == Shape.LIST || f.shape() == Shape.MAP) {
          here.add("[*]");
        }
        collect(f.type(), here, onPath, out);
      }
    }
    onPath.removeLast();
  }

  /** The fields of a model class by JSON name, oneof subtypes' fields included. */
  private static Map<String, Field> fieldsOf(Class<?> type) {
    // Not computeIfAbsent: introspecting a oneof reads its subtypes' fields from the same map.
    Map<String, Field> fields = FIELDS.get(type);
    if (fields == null) {
      fields = introspect(type);
      Map<String, Field> raced = FIELDS.putIfAbsent(type, fields);
      fields = raced == null ? fields : raced;
    }
    return fields;
  }

  private static Map<String, Field> introspect(Class<?> type) {
    ObjectMapper m = MeshYaml.MAPPER;
    BeanDescription d = m.getDeserializationConfig().introspect(m.constructType(type));
    Map<String, Field> out = new LinkedHashMap<>();
    for (BeanPropertyDefinition p : d.findProperties()) {
      AnnotatedMember member = p.getPrimaryMember();
      JavaType t = p.getPrimaryType();
      if (member == null || t == null) {
        continue;
      }
      if (member.hasAnnotation(JsonUnwrapped.class)) {
        // An Istio oneof: each subtype is one more field of this object.
        JsonSubTypes subtypes = t.getRawClass().getAnnotation(JsonSubTypes.class);
        if (subtypes != null) {
          for (JsonSubTypes.Type s : subtypes.value()) {
            out.putAll(fieldsOf(s.value()));
          }
        }
        continue;
      }
      out.put(p.getName(), field(p.getName(), t));
    }
    return out;
  }

  private static Field field(String name, JavaType t) {
    if (t.isCollectionLikeType() || t.isArrayType()) {
      return new Field(name, Shape.LIST, objectType(t.getContentType()));
    }
    if (t.isMapLikeType()) {
      return new Field(name, Shape.MAP, objectType(t.getContentType()));
    }
    Class<?> c = objectType(t);
    return new Field(name, c == null ? Shape.SCALAR : Shape.OBJECT, c);
  }

  /** The model class of a value that has fields of its own, else null. */
  private static Class<?> objectType(JavaType t) {
    if (t == null) {
      return null;
    }
    Class<?> c = t.getRawClass();
    if (c.isEnum() || c.isPrimitive() || !c.getName().startsWith("io.fabric8.")) {
      return null;
    }
    JsonDeserialize custom = c.getAnnotation(JsonDeserialize.class);
    if (custom != null && custom.using() != JsonDeserializer.None.class
        && !custom.using().getSimpleName().equals("JsonUnwrappedDeserializer")) {
      return null; // IntOrString, Quantity: read from a scalar by a deserializer of their own
    }
    return c;
  }

  /** {@code a.b[0].c[k]} → [a, b, [0], c, [k]]; a key in brackets may hold dots. */
  static List<String> steps(String path) {
    List<String> out = new ArrayList<>();
    StringBuilder name = new StringBuilder();
    for (int i = 0; i < path.length(); i++) {
      char c = path.charAt(i);
      if (c == '.') {
        flush(name, out);
      } else if (c == '[') {
        flush(name, out);
        int close = path.indexOf(']', i);
        if (close < 0) {
          close = path.length() - 1;
        }
        out.add(path.substring(i, close + 1));
        i = close;
      } else {
        name.append(c);
      }
    }
    flush(name, out);
    return out;
  }

  private static void flush(StringBuilder name, List<String> out) {
    if (!name.isEmpty()) {
      out.add(name.toString());
      name.setLength(0);
    }
  }

  private static String render(List<String> steps) {
    StringBuilder b = new StringBuilder();
    for (String s : steps) {
      if (!s.startsWith("[") && !b.isEmpty()) {
        b.append('.');
      }
      b.append(s);
    }
    return b.toString();
  }

  /** Levenshtein distance with a transposition counted as one edit. */
  private static int distance(String a, String b) {
    int[][] d = new int[a.length() + 1][b.length() + 1];
    for (int i = 0; i <= a.length(); i++) {
      d[i][0] = i;
    }
    for (int j = 0; j <= b.length(); j++) {
      d[0][j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
        if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2)
            && a.charAt(i - 2) == b.charAt(j - 1)) {
          d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.length()][b.length()];
  }
}
