package dev.ambientj.hbone.identity;

import java.util.Objects;

/**
 * A SPIFFE identity in Istio's form, {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 *
 * <p>Only this shape is accepted (as ztunnel's {@code Identity::from_str}): the {@code spiffe://}
 * prefix, a trust domain, and the literal segments {@code ns} and {@code sa}, each followed by one
 * non-empty segment.
 */
public record SpiffeId(String trustDomain, String namespace, String serviceAccount) {

  private static final String PREFIX = "spiffe://";
  private static final String FORM =
      "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>";

  public SpiffeId {
    Objects.requireNonNull(trustDomain, "trustDomain");
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(serviceAccount, "serviceAccount");
    checkTrustDomain(trustDomain, trustDomain);
    checkSegment("namespace", namespace, namespace);
    checkSegment("service account", serviceAccount, serviceAccount);
  }

  /**
   * Parses {@code spiffe://td/ns/x/sa/y}.
   *
   * @throws IllegalArgumentException naming the input and the expected form
   */
  public static SpiffeId parse(String uri) {
    if (uri == null) {
      throw new IllegalArgumentException("SPIFFE id is missing (expected " + FORM + ")");
    }
    if (!uri.startsWith(PREFIX)) {
      throw new IllegalArgumentException(
          "'" + uri + "' is not a SPIFFE id: it must start with spiffe:// (expected " + FORM + ")");
    }
    String[] parts = uri.substring(PREFIX.length()).split("/", -1);
    if (parts.length != 5 || !parts[1].equals("ns") || !parts[3].equals("sa")) {
      throw new IllegalArgumentException(
          "'" + uri + "' is not an Istio SPIFFE id (expected " + FORM + ")");
    }
    checkTrustDomain(parts[0], uri);
    checkSegment("namespace", parts[2], uri);
    checkSegment("service account", parts[4], uri);
    return new SpiffeId(parts[0], parts[2], parts[4]);
  }

  /** The id without the {@code spiffe://} scheme, as Istio's authorization principals are written. */
  public String principal() {
    return trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
  }

  @Override
  public String toString() {
    return PREFIX + principal();
  }

  private static void checkTrustDomain(String td, String input) {
    if (td.isEmpty()) {
      throw new IllegalArgumentException("'" + input + "': the trust domain is empty (expected " + FORM + ")");
    }
    for (int i = 0; i < td.length(); i++) {
      char c = td.charAt(i);
      boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
      if (!ok) {
        throw new IllegalArgumentException(
            "'" + input + "': trust domain '" + td + "' may only hold a-z, 0-9, '.', '-' and '_'");
      }
    }
  }

  private static void checkSegment(String what, String value, String input) {
    if (value.isEmpty()) {
      throw new IllegalArgumentException("'" + input + "': the " + what + " is empty (expected " + FORM + ")");
    }
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c == '/' || c == '?' || c == '#' || c == '%' || Character.isWhitespace(c) || Character.isISOControl(c)) {
        throw new IllegalArgumentException(
            "'" + input + "': the " + what + " '" + value + "' holds a character not allowed in a SPIFFE path segment");
      }
    }
  }
}
