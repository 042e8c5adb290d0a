package dev.ambientj.config.model;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * A local (per proxy) token-bucket rate limit, read from the one {@code EnvoyFilter} shape ambientj
 * accepts: an HTTP_FILTER patch inserting {@code envoy.filters.http.local_ratelimit}.
 *
 * <p>{@code filter_enabled} and {@code filter_enforced} are not read: the limit always applies, as
 * the author of such a filter intends. (In Envoy an absent {@code filter_enabled} means 0%, which
 * leaves filters written like the seed example inert; ambientj does not reproduce that trap.)
 *
 * @param workloadSelector the EnvoyFilter's {@code workloadSelector.labels}; empty selects every
 *     workload of the namespace
 * @param maxTokens the bucket size
 * @param tokensPerFill tokens added every {@code fillInterval}
 */
public record LocalRateLimit(
    String name,
    String namespace,
    Map<String, String> workloadSelector,
    long maxTokens,
    long tokensPerFill,
    Duration fillInterval,
    String statPrefix) {

  public LocalRateLimit {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(namespace, "namespace");
    workloadSelector = Map.copyOf(workloadSelector);
    Objects.requireNonNull(fillInterval, "fillInterval");
    statPrefix = statPrefix == null ? "" : statPrefix;
  }

  /** True when this limit applies to a workload of {@code ns} with these labels. */
  public boolean selects(String ns, Map<String, String> labels) {
    return namespace.equals(ns) && labels.entrySet().containsAll(workloadSelector.entrySet());
  }
}
