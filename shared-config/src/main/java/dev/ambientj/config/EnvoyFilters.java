package dev.ambientj.config;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ambientj.config.model.GoDuration;
import dev.ambientj.config.model.LocalRateLimit;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Reads the one EnvoyFilter shape ambientj applies: a single HTTP_FILTER patch that inserts Envoy's
 * {@code envoy.filters.http.local_ratelimit} with a token bucket, either as a {@code TypedStruct}
 * ({@code type_url} + {@code value}) or as the LocalRateLimit message itself. Anything else is an
 * Envoy config patch there is no Envoy to apply to, and is rejected naming the field.
 */
final class EnvoyFilters {
  static final String LOCAL_RATELIMIT = "envoy.filters.http.local_ratelimit";
  static final String LOCAL_RATELIMIT_TYPE =
      "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
  static final String TYPED_STRUCT_TYPES =
      "type.googleapis.com/udpa.type.v1.TypedStruct|type.googleapis.com/xds.type.v3.TypedStruct";
  private static final Set<String> CONTEXTS = Set.of("SIDECAR_INBOUND", "ANY");
  private static final Set<String> OPERATIONS =
      Set.of("INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST", "ADD");
  private static final String ONLY = " (only the local rate limit filter is supported: expected ";

  private EnvoyFilters() {}

  static LocalRateLimit localRateLimit(String name, String namespace, JsonNode spec)
      throws InvalidField {
    if (spec.has("targetRefs") || spec.has("targetRef")) {
      throw new InvalidField(
          "spec.targetRefs", "not supported for EnvoyFilter (expected workloadSelector.labels)");
    }
    Map<String, String> selector = new LinkedHashMap<>();
    JsonNode labels = spec.path("workloadSelector").path("labels");
    labels.fieldNames().forEachRemaining(k -> selector.put(k, labels.get(k).asText()));

    JsonNode patches = spec.path("configPatches");
    if (!patches.isArray() || patches.isEmpty()) {
      throw new InvalidField("spec.configPatches", "empty" + ONLY + "one HTTP_FILTER patch)");
    }
    if (patches.size() > 1) {
      throw new InvalidField(
          "spec.configPatches",
          patches.size() + " patches" + ONLY + "exactly one HTTP_FILTER patch)");
    }
    JsonNode patch = patches.get(0);
    String f = "spec.configPatches[0]";
    String applyTo = patch.path("applyTo").asText("");
    if (!applyTo.equals("HTTP_FILTER")) {
      throw new InvalidField(f + ".applyTo", show(applyTo) + ONLY + "HTTP_FILTER)");
    }
    String context = patch.path("match").path("context").asText("ANY");
    if (!CONTEXTS.contains(context)) {
      throw new InvalidField(
          f + ".match.context", show(context) + ONLY + "SIDECAR_INBOUND or ANY)");
    }
    String operation = patch.path("patch").path("operation").asText("");
    if (!OPERATIONS.contains(operation)) {
      throw new InvalidField(
          f + ".patch.operation",
          show(operation) + ONLY + "INSERT_BEFORE, INSERT_AFTER, INSERT_FIRST or ADD)");
    }
    JsonNode value = patch.path("patch").path("value");
    String filterName = value.path("name").asText("");
    if (!filterName.equals(LOCAL_RATELIMIT)) {
      throw new InvalidField(
          f + ".patch.value.name", show(filterName) + ONLY + LOCAL_RATELIMIT + ")");
    }
    JsonNode typed = value.path("typed_config");
    String tf = f + ".patch.value.typed_config";
    if (typed.isMissingNode()) {
      typed = value.path("typedConfig");
      tf = f + ".patch.value.typedConfig";
    }
    String type = typed.path("@type").asText("");
    JsonNode config;
    if (Set.of(TYPED_STRUCT_TYPES.split("\\|")).contains(type)) {
      String typeUrl = typed.path("type_url").asText(typed.path("typeUrl").asText(""));
      if (!typeUrl.equals(LOCAL_RATELIMIT_TYPE)) {
        throw new InvalidField(tf + ".type_url", show(typeUrl) + ONLY + LOCAL_RATELIMIT_TYPE + ")");
      }
      config = typed.path("value");
      tf = tf + ".value";
    } else if (type.equals(LOCAL_RATELIMIT_TYPE)) {
      config = typed;
    } else {
      throw new InvalidField(
          tf + ".@type", show(type) + ONLY + LOCAL_RATELIMIT_TYPE + " or a TypedStruct of it)");
    }
    JsonNode bucket = field(config, "token_bucket", "tokenBucket");
    String bf = tf + ".token_bucket";
    if (bucket.isMissingNode()) {
      throw new InvalidField(
          bf, "missing (expected max_tokens, tokens_per_fill and fill_interval)");
    }
    long maxTokens = positive(bf + ".max_tokens", field(bucket, "max_tokens", "maxTokens"), -1);
    long perFill =
        positive(bf + ".tokens_per_fill", field(bucket, "tokens_per_fill", "tokensPerFill"), 1);
    JsonNode interval = field(bucket, "fill_interval", "fillInterval");
    if (interval.isMissingNode() || interval.asText("").isEmpty()) {
      throw new InvalidField(bf + ".fill_interval", "missing (expected a duration such as 60s)");
    }
    Duration fill;
    try {
      fill = GoDuration.parse(interval.asText());
    } catch (IllegalArgumentException e) {
      throw new InvalidField(bf + ".fill_interval", e.getMessage());
    }
    if (fill.isZero()) {
      throw new InvalidField(
          bf + ".fill_interval", "0s (expected a positive duration such as 60s)");
    }
    String statPrefix = field(config, "stat_prefix", "statPrefix").asText("");
    return new LocalRateLimit(name, namespace, selector, maxTokens, perFill, fill, statPrefix);
  }

  private static JsonNode field(JsonNode n, String snake, String camel) {
    JsonNode v = n.path(snake);
    return v.isMissingNode() ? n.path(camel) : v;
  }

  private static long positive(String f, JsonNode n, long dflt) throws InvalidField {
    if (n.isMissingNode() && dflt > 0) {
      return dflt;
    }
    long v =
        n.canConvertToLong()
            ? n.asLong()
            : (n.isTextual() && n.asText().matches("\\d+") ? Long.parseLong(n.asText()) : -1);
    if (v < 1) {
      throw new InvalidField(
          f, (n.isMissingNode() ? "missing" : show(n.asText())) + " (expected a positive integer)");
    }
    return v;
  }

  private static String show(String s) {
    return s.isEmpty() ? "missing" : s;
  }
}
