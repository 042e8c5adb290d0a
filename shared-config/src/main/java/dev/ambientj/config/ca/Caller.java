package dev.ambientj.config.ca;

import java.util.Objects;

/**
 * Who called the config server, as a {@link CallerAuthenticator} proved it from the call's bearer
 * token.
 *
 * @param principal how the caller is named in messages and logs (e.g. {@code node token of
 *     node-a}, {@code system:serviceaccount:ambientj-system:ztunnel})
 * @param node the node the caller runs on, or {@code ""} when unknown
 * @param identity the caller's own SPIFFE identity, or null when the credential carries none (a
 *     node token)
 * @param nodeAgent whether the caller may obtain certificates for the workloads scheduled on
 *     {@link #node} (Istio's trusted node account: a ztunnel); otherwise only for {@link
 *     #identity}
 */
public record Caller(String principal, String node, String identity, boolean nodeAgent) {
  public Caller {
    Objects.requireNonNull(principal, "principal");
    node = node == null ? "" : node;
  }

  /** A ztunnel proven by its node token (file mode). */
  public static Caller nodeToken(String node) {
    return new Caller("node token of " + node, node, null, true);
  }
}
